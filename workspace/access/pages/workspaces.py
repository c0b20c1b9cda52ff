"""Workspace list, workspace home and members."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Response, Template

from workspace.access import workspaces
from workspace.access.pages import home_feed
from workspace.automations.engine import zone_of
from workspace.dedupe.pages.costs import cost_context
from workspace.errors import WorkspaceError
from workspace.principal import ROLES
from workspace.records import records
from workspace.schema import definitions
from workspace.web.nav import workspace_context
from workspace.web.session import RuntimeDep, UserDep
from workspace.work.pages.work_views import member_names

Form = URLEncodedBody[dict[str, Any]]


class WorkspacePages(Controller):
    path = "/"

    @get("/", sync_to_thread=True)
    def index(self, runtime: RuntimeDep, user: UserDep) -> Template:
        mine = workspaces.list_for(runtime, user.principal)
        return Template(
            "workspaces/index.html", context={"user": user, "workspaces": mine, "errors": {}}
        )

    @post("/w", sync_to_thread=True)
    def create(self, runtime: RuntimeDep, user: UserDep, data: Form) -> Response[Any]:
        try:
            made = workspaces.create(runtime, user.principal, data.get("name"))
        except WorkspaceError as exc:
            mine = workspaces.list_for(runtime, user.principal)
            context = {
                "user": user,
                "workspaces": mine,
                "errors": exc.fields or {"name": exc.message},
            }
            return Template("workspaces/index.html", context=context, status_code=exc.status)
        return Redirect(f"/w/{made['id']}", status_code=303)

    @get("/w/{workspace_id:int}", sync_to_thread=True)
    def home(self, runtime: RuntimeDep, user: UserDep, workspace_id: int) -> Template:
        acc, context = workspace_context(runtime, user, workspace_id)
        counts = {}
        opened = {}
        for item in context["types"]:
            _, rt = definitions.open_type(runtime, user.principal, workspace_id, item["id"])
            opened[rt.id] = rt
            counts[item["id"]] = records.list_records(runtime, acc, rt, limit=1, with_total=True)[
                "total"
            ]
        people = member_names(workspaces.list_members(runtime, acc))
        zone = zone_of(context["workspace"]["time_zone"])
        return Template(
            "workspaces/home.html",
            context={
                **context,
                "counts": counts,
                "feed": home_feed.feed(runtime, acc, opened, people),
                "zone": zone,
                "local_text": home_feed.local_text,
                "utc_iso": home_feed.utc_iso,
                **cost_context(runtime, acc, counts),
            },
        )

    @get("/w/{workspace_id:int}/members", sync_to_thread=True)
    def members(self, runtime: RuntimeDep, user: UserDep, workspace_id: int) -> Template:
        return self._members(runtime, user, workspace_id)

    @post("/w/{workspace_id:int}/members", sync_to_thread=True)
    def add_member(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, data: Form
    ) -> Template:
        acc, _ = workspace_context(runtime, user, workspace_id)
        try:
            workspaces.add_member(runtime, acc, data.get("email"), data.get("role", "member"))
        except WorkspaceError as exc:
            return self._members(runtime, user, workspace_id, error=exc, status=exc.status)
        return self._members(runtime, user, workspace_id, notice=f"{data.get('email')} was added.")

    @post("/w/{workspace_id:int}/members/{member_id:int}/role", sync_to_thread=True)
    def change_role(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, member_id: int, data: Form
    ) -> Template:
        acc, _ = workspace_context(runtime, user, workspace_id)
        try:
            workspaces.change_role(runtime, acc, member_id, data.get("role"))
        except WorkspaceError as exc:
            return self._members(runtime, user, workspace_id, error=exc, status=exc.status)
        return self._members(runtime, user, workspace_id, notice="The role was changed.")

    @post("/w/{workspace_id:int}/members/{member_id:int}/remove", sync_to_thread=True)
    def remove_member(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, member_id: int
    ) -> Response[Any]:
        acc, _ = workspace_context(runtime, user, workspace_id)
        try:
            workspaces.remove_member(runtime, acc, member_id)
        except WorkspaceError as exc:
            return self._members(runtime, user, workspace_id, error=exc, status=exc.status)
        if member_id == user.principal.user_id:
            return Redirect("/", status_code=303)
        return self._members(runtime, user, workspace_id, notice="The member was removed.")

    def _members(
        self,
        runtime: Any,
        user: Any,
        workspace_id: int,
        *,
        error: WorkspaceError | None = None,
        notice: str | None = None,
        status: int = 200,
    ) -> Template:
        acc, context = workspace_context(runtime, user, workspace_id)
        context.update(
            members=workspaces.list_members(runtime, acc),
            roles=ROLES,
            error=error.message if error else None,
            notice=notice,
        )
        return Template("workspaces/members.html", context=context, status_code=status)
