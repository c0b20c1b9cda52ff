"""The form builder: a workspace's public forms, their fields and behaviour, and
what they received. Plain form posts answered with redirects; no JavaScript needed."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Response, Template

from workspace.access import workspaces
from workspace.access.sessions import SessionUser
from workspace.errors import NotFound, WorkspaceError
from workspace.files.content import human_size
from workspace.files.files import MAX_FILES
from workspace.forms import edits, forms
from workspace.forms import submissions as form_submissions
from workspace.forms.config import POLICIES
from workspace.forms.file_kinds import KINDS
from workspace.forms.pages.builder_rows import config_fields, rows_from_config, rows_from_post
from workspace.forms.pages.submission_view import summary
from workspace.principal import Access
from workspace.runtime import Runtime
from workspace.schema.tables import RecordTypeDef
from workspace.types import record_types
from workspace.web.htmx import is_htmx
from workspace.web.nav import workspace_context
from workspace.web.session import RuntimeDep, UserDep

Form = URLEncodedBody[dict[str, Any]]
FORM = "/forms/{form_id:int}"
#: Where each of the service's error keys is shown on the builder page, and its name there.
ERROR_PLACES = {
    "name": ("b-name", "Name"),
    "intro": ("b-intro", "Introduction"),
    "fields": ("b-fields", "Fields"),
    "policy": ("b-policy", "Returning customers"),
    "success_message": ("b-success", "Message shown after sending"),
    "redirect_url": ("b-redirect", "Redirect address"),
}
OUTCOME_LABELS = {
    "created": "Created",
    "updated": "Updated",
    "refused": "Refused",
    "rejected": "Rejected",
    "spam": "Spam",
    "replay": "Sent twice",
    "received": "Being processed",
    "failed": "Failed, sender asked to send again",
}


class FormBuilderPages(Controller):
    path = "/w/{workspace_id:int}"

    # ---- the list ------------------------------------------------------------------------

    @get("/forms", sync_to_thread=True)
    def index(self, runtime: RuntimeDep, user: UserDep, workspace_id: int) -> Template:
        return self._index(runtime, user, workspace_id)

    @post("/forms", sync_to_thread=True)
    def create(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, data: Form
    ) -> Response[Any]:
        acc, _ = workspace_context(runtime, user, workspace_id)
        type_id = str(data.get("record_type") or "")
        try:
            if not type_id.isdigit():
                raise NotFound("choose the record type the form fills in")
            made = forms.create_form(runtime, acc, int(type_id), data.get("name") or None)
        except WorkspaceError as exc:
            errors = {"create": exc.fields.get("name") or exc.message}
            return self._index(runtime, user, workspace_id, errors=errors, status=exc.status)
        return Redirect(f"/w/{workspace_id}/forms/{made['id']}?created=1", status_code=303)

    def _index(
        self,
        runtime: Runtime,
        user: SessionUser,
        workspace_id: int,
        *,
        errors: dict[str, str] | None = None,
        status: int = 200,
    ) -> Template:
        acc, context = workspace_context(runtime, user, workspace_id)
        context.update(
            forms=forms.list_forms(runtime, acc),
            type_names={t["id"]: t["name"] for t in context["types"]},
            errors=errors or {},
        )
        return Template("forms/list.html", context=context, status_code=status)

    # ---- one form --------------------------------------------------------------------------

    @get(FORM, sync_to_thread=True)
    def edit(
        self,
        request: Request[Any, Any, Any],
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        form_id: int,
        created: bool = False,
        saved: bool = False,
    ) -> Template:
        notice = None
        if created:
            notice = "Your form is ready and open. Choose its fields below, then share its link."
        elif saved:
            notice = "Saved. The public form shows your changes now."
        return self._edit(request, runtime, user, workspace_id, form_id, notice=notice)

    @post(FORM, sync_to_thread=True)
    def save(
        self,
        request: Request[Any, Any, Any],
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        form_id: int,
        data: Form,
    ) -> Response[Any]:
        acc, _ = workspace_context(runtime, user, workspace_id)
        form = forms.get_form(runtime, acc, form_id)
        rt = record_types.get_type(runtime, acc, form["record_type"])
        rows = rows_from_post(rt, data)
        changes = {
            "name": data.get("name"),
            "is_open": str(data.get("is_open")) == "1",
            "config": {
                "fields": config_fields(rows),
                "policy": data.get("policy"),
                "intro": data.get("intro"),
                "success_message": data.get("success_message"),
                "redirect_url": data.get("redirect_url"),
                "edit_link": data.get("edit_link") == "on",
            },
        }
        try:
            forms.update_form(runtime, acc, form_id, changes)
        except WorkspaceError as exc:
            errors = {
                k: v[:1].upper() + v[1:] for k, v in (exc.fields or {"form": exc.message}).items()
            }
            posted = {**form, **{k: v for k, v in changes.items() if k != "config"}}
            posted["config"] = changes["config"]
            return self._edit(
                request,
                runtime,
                user,
                workspace_id,
                form_id,
                errors=errors,
                posted=(posted, rows_from_post(rt, data, errors)),
                status=exc.status,
            )
        return Redirect(f"/w/{workspace_id}/forms/{form_id}?saved=1", status_code=303)

    @post(FORM + "/delete", sync_to_thread=True)
    def delete(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, form_id: int
    ) -> Redirect:
        acc, _ = workspace_context(runtime, user, workspace_id)
        forms.delete_form(runtime, acc, form_id)
        return Redirect(f"/w/{workspace_id}/forms", status_code=303)

    def _edit(
        self,
        request: Request[Any, Any, Any],
        runtime: Runtime,
        user: SessionUser,
        workspace_id: int,
        form_id: int,
        *,
        notice: str | None = None,
        errors: dict[str, str] | None = None,
        posted: tuple[dict[str, Any], list[Any]] | None = None,
        status: int = 200,
    ) -> Template:
        acc, context = workspace_context(runtime, user, workspace_id)
        form = forms.get_form(runtime, acc, form_id)
        rt = _type_or_none(runtime, acc, form["record_type"])
        if posted is not None:
            form, rows = posted
        else:
            rows = rows_from_config(rt, form["config"]) if rt is not None else []
        context.update(
            form=form,
            rt=rt,
            rows=rows,
            current_type=rt.id if rt is not None else None,
            policies=POLICIES,
            kinds=KINDS,
            file_counts=[str(n) for n in range(1, MAX_FILES + 1)],
            max_file_size=human_size(runtime.settings.max_file_bytes),
            rules=_rules(rt) if rt is not None else [],
            redirect_hosts=sorted(runtime.settings.form_redirect_host_set),
            public_url=str(request.base_url).rstrip("/") + form["path"],
            writer_ok=forms.writer_ok(runtime, acc, form),
            counts=form_submissions.counts(runtime, acc, form_id),
            members=_members(runtime, acc),
            errors=errors or {},
            problems=_problems(errors or {}, rt),
            notice=notice,
        )
        return Template("forms/edit.html", context=context, status_code=status)

    # ---- submissions ---------------------------------------------------------------------

    @get(FORM + "/submissions", sync_to_thread=True)
    def submissions(
        self,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        form_id: int,
        outcome: str | None = None,
        before: int | None = None,
    ) -> Template:
        acc, context = workspace_context(runtime, user, workspace_id)
        form = forms.get_form(runtime, acc, form_id)
        rt = _type_or_none(runtime, acc, form["record_type"])
        chosen = outcome if outcome in OUTCOME_LABELS else None
        page = form_submissions.list_submissions(
            runtime, acc, form_id, outcome=chosen, before=before
        )
        context.update(
            form=form,
            rt=rt,
            current_type=rt.id if rt is not None else None,
            items=[{**s, "summary": summary(s["payload"], form, rt)} for s in page["items"]],
            next_before=page["next_before"],
            outcome=chosen,
            counts=form_submissions.counts(runtime, acc, form_id),
            labels=OUTCOME_LABELS,
        )
        return Template("forms/submissions.html", context=context)

    @get(FORM + "/submissions/{submission_id:int}/edit-link", sync_to_thread=True)
    def edit_link(
        self,
        request: Request[Any, Any, Any],
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        form_id: int,
        submission_id: int,
    ) -> Template:
        acc, context = workspace_context(runtime, user, workspace_id)
        path = edits.link_for(runtime, acc, form_id, submission_id)
        context.update(
            form=forms.get_form(runtime, acc, form_id),
            link=str(request.base_url).rstrip("/") + path,
            days=runtime.settings.form_edit_link_days,
            submission_id=submission_id,
        )
        name = "forms/_edit_link.html" if is_htmx(request) else "forms/edit_link.html"
        return Template(name, context=context)


def _type_or_none(runtime: Runtime, acc: Access, record_type_id: int) -> RecordTypeDef | None:
    try:
        return record_types.get_type(runtime, acc, record_type_id)
    except NotFound:
        return None


def _problems(errors: dict[str, str], rt: RecordTypeDef | None) -> list[tuple[str, str]]:
    """The refused save's reasons for the summary at the top: (anchor, sentence)."""
    found = []
    for path, reason in errors.items():
        if path.startswith("fields."):
            key = path.split(".")[1]
            f = rt.field_by_key(key) if rt is not None else None
            found.append((f"row-{key}", f"{f.name if f else key}: {reason}"))
        elif path in ERROR_PLACES:
            anchor, label = ERROR_PLACES[path]
            found.append((anchor, f"{label}: {reason}"))
    return found


def _rules(rt: RecordTypeDef) -> list[str]:
    """The type's dedupe rules in words, so the policy choice says what it acts on."""
    found = []
    for rd in rt.dedupe:
        names = [f.name for fid in rd.field_ids if (f := rt.field_by_id(fid)) is not None]
        found.append(f"{rd.rule.label} on {', '.join(names)}")
    return found


def _members(runtime: Runtime, acc: Access) -> list[tuple[int, str]]:
    return [(m["user_id"], m["name"] or m["email"]) for m in workspaces.list_members(runtime, acc)]
