"""One request to the duplicates screens of a record type: who asks, what the screen shows
(the rules with their forms, one page of the review queue) and how to answer: htmx gets the
part that changed, a plain form post a redirect or the whole screen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from litestar import Request
from litestar.di import NamedDependency
from litestar.response import Redirect, Template

from workspace.access.sessions import SessionUser
from workspace.dedupe import rules as dedupe_rules
from workspace.dedupe.pages import queue, rules
from workspace.dedupe.pages.span_views import spans_state
from workspace.errors import WorkspaceError
from workspace.principal import Access
from workspace.records.match_keys import DEFAULT_THRESHOLD
from workspace.records.pages.record_timeline import ago
from workspace.runtime import Runtime
from workspace.schema.definitions import open_type
from workspace.schema.tables import RecordTypeDef
from workspace.web.htmx import is_htmx
from workspace.web.nav import workspace_context
from workspace.web.session import RuntimeDep, UserDep

AnyRequest = Request[Any, Any, Any]


@dataclass(frozen=True)
class Screen:
    """One request to the duplicates screen of a record type."""

    request: AnyRequest
    runtime: Runtime
    user: SessionUser
    workspace_id: int
    record_type_id: int

    @property
    def htmx(self) -> bool:
        return is_htmx(self.request)

    @property
    def url(self) -> str:
        return f"/w/{self.workspace_id}/t/{self.record_type_id}/duplicates"

    def open(self) -> tuple[Access, RecordTypeDef]:
        return open_type(self.runtime, self.user.principal, self.workspace_id, self.record_type_id)

    def back(self, anchor: str, **query: Any) -> Redirect:
        """The screen again after a plain form post (the query says what happened)."""
        shown = {k: v for k, v in query.items() if v not in (None, "")}
        query_text = "?" + urlencode(shown) if shown else ""
        return Redirect(f"{self.url}{query_text}#{anchor}", status_code=303)

    def context(self, acc: Access, rt: RecordTypeDef, **state: Any) -> dict[str, Any]:
        """What ``_rules.html`` and ``_queue.html`` read, with the layout for a full page."""
        context = {
            "acc": acc,
            "rt": rt,
            "base": f"/w/{self.workspace_id}/t/{rt.id}",
            "dup": self.url,
            "notice": None,
            "rules_notice": None,
            "queue_notice": None,
            "oob": False,
            **rules_state(self.runtime, acc, rt, state.pop("add", None), state.pop("edits", {})),
            **spans_state(self.runtime, acc, rt, state.pop("span_add", None)),
            **queue.queue(
                self.runtime, acc, rt, state.pop("status", "open"), state.pop("after", None)
            ),
        }
        context.update(state)
        return self.with_layout(context, rt)

    def with_layout(self, context: dict[str, Any], rt: RecordTypeDef) -> dict[str, Any]:
        """A full page also shows the workspace around it (not needed by htmx fragments)."""
        context["ago"] = ago
        if not self.htmx:
            _, layout = workspace_context(self.runtime, self.user, self.workspace_id)
            context.update(layout, current_type=rt.id)
        return context

    def answer(
        self, fragment: str, acc: Access, rt: RecordTypeDef, state: dict[str, Any], status: int
    ) -> Template:
        """htmx gets the part that changed; a plain post the whole screen."""
        name = f"duplicates/{fragment}.html" if self.htmx else "duplicates/page.html"
        return Template(name, context=self.context(acc, rt, **state), status_code=status)


def provide_screen(
    request: AnyRequest, runtime: RuntimeDep, user: UserDep, workspace_id: int, record_type_id: int
) -> Screen:
    return Screen(request, runtime, user, workspace_id, record_type_id)


ScreenDep = NamedDependency[Screen]


def rules_state(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    add: dict[str, Any] | None,
    edits: dict[int, dict[str, Any]],
) -> dict[str, Any]:
    """The rules as listed (with a refused change's input and errors) and the add form."""
    views = []
    for public in dedupe_rules.list_rules(runtime, acc, rt.id):
        view = rules.rule_view(runtime, rt, public)
        edit = edits.get(view["id"], {})
        view["form"] = rules.form_values(view, edit.get("posted"))
        view["errors"] = edit.get("errors", {})
        views.append(view)
    usable = rules.usable_rules(runtime, rt)
    add = add or {}
    rule = rules.pick_rule(usable, add.get("rule"))
    posted = add.get("posted")
    return {
        "rules": views,
        "usable": usable,
        "add_rule": rule,
        "add_slots": rules.slots(rt, rule, add.get("slots")) if rule else [],
        "add_values": rules.form_values(_blank(rule), posted) if rule else {},
        "add_errors": add.get("errors", {}),
        "add_open": bool(add) or not views,
        "mode_choices": rules.mode_choices,
        "policy_choices": rules.policy_choices(),
        "rule_help": rules.RULE_HELP,
        "default_threshold": rules.percent(DEFAULT_THRESHOLD),
    }


def _blank(rule: Any) -> dict[str, Any]:
    mode = rules.default_mode(rule)
    return {"on_create": mode, "on_update": mode, "threshold_text": "", "merge_policy": {}}


def reraise_access(exc: WorkspaceError) -> None:
    """Who may not do this, or what is not there, gets the error page, not a form."""
    if exc.status in {401, 403, 404}:
        raise exc
