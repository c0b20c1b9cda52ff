"""The record type designer: name a type, then add, configure, retype, reorder and delete its
fields while a preview shows the record form as the team will see it.

Every change is one ``record_types`` service call, so the designer obeys the API's rules. An
htmx request gets back the fragment that changed, with errors next to the input they concern
(the service error's ``fields`` keys); a plain form post gets a redirect, or the whole page
with the errors, so the designer also works without JavaScript.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter, URLEncodedBody
from litestar.response import Redirect, Response, Template

from workspace.access.sessions import SessionUser
from workspace.errors import Conflict, NotFound, WorkspaceError
from workspace.principal import Access
from workspace.records import records
from workspace.records.pages.refs import refs_for
from workspace.runtime import Runtime
from workspace.schema.fields import FieldDef
from workspace.schema.tables import RecordTypeDef
from workspace.types import record_types
from workspace.types.pages import designer_errors as errors
from workspace.types.pages import designer_forms as forms
from workspace.web.htmx import is_htmx
from workspace.web.nav import workspace_context
from workspace.web.session import RuntimeDep, UserDep

Form = URLEncodedBody[dict[str, Any]]
AnyRequest = Request[Any, Any, Any]

#: What the templates read about the last change (None: nothing); each handler sets its part.
STATE = (
    "open_id", "saved", "added", "moved", "acted", "conflict", "retype", "typed_name", "sent",
    "list_notice", "list_error", "type_saved", "oob", "oob_head", "oob_conflict",
)  # fmt: skip


@dataclass(frozen=True)
class Design:
    """One request to the designer of a record type: who asks, and how to answer them."""

    request: AnyRequest
    runtime: Runtime
    user: SessionUser
    workspace_id: int
    record_type_id: int

    @property
    def htmx(self) -> bool:
        return is_htmx(self.request)

    def admin(self) -> Access:
        return _admin(self.runtime, self.user, self.workspace_id)

    def get_type(self, acc: Access) -> RecordTypeDef:
        return record_types.get_type(self.runtime, acc, self.record_type_id)

    def context(self, **state: Any) -> dict[str, Any]:
        return _context(self.runtime, self.user, self.workspace_id, self.record_type_id, **state)

    def answer(
        self,
        fragment: str,
        state: dict[str, Any],
        *,
        status: int = 200,
        field_id: int | None = None,
        opened: bool = False,
    ) -> Response[Any]:
        """htmx gets the fragment that changed; a plain form post a redirect back to the
        designer, or the whole designer with the errors."""
        if status < 400 and not self.htmx:
            query = f"?open={field_id}" if opened and field_id else ""
            anchor = f"#field-{field_id}" if field_id else ""
            base = f"/w/{self.workspace_id}/t/{self.record_type_id}/design"
            return Redirect(base + query + anchor, status_code=303)
        context = self.context(**state)
        if field_id is not None:
            _card(context, field_id)
        name = f"designer/{fragment}.html" if self.htmx else "designer/design.html"
        return Template(name, context=context, status_code=status)


def provide_design(
    request: AnyRequest,
    runtime: RuntimeDep,
    user: UserDep,
    workspace_id: int,
    record_type_id: int,
) -> Design:
    return Design(request, runtime, user, workspace_id, record_type_id)


DesignDep = NamedDependency[Design]
DESIGN = "/t/{record_type_id:int}/design"
FIELD = DESIGN + "/fields/{field_id:int}"


class DesignerPages(Controller):
    path = "/w/{workspace_id:int}"
    dependencies = {"design": Provide(provide_design, sync_to_thread=False)}

    # ---- a new record type ----------------------------------------------------------------

    @get("/types/new", sync_to_thread=True)
    def new_type(self, runtime: RuntimeDep, user: UserDep, workspace_id: int) -> Template:
        return Template("designer/new.html", context=_new_context(runtime, user, workspace_id))

    @get("/types/new/row", sync_to_thread=True)
    def new_row(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, i: int = forms.NEW_ROWS
    ) -> Template:
        """One more "first field" row for the new-type form (htmx)."""
        context = _new_context(runtime, user, workspace_id)
        context.update(row=forms.blank_row(min(max(i, 0), forms.MAX_ROWS - 1)), next_row=i + 1)
        return Template("designer/_new_row_swap.html", context=context)

    @get("/types/options", sync_to_thread=True)
    def type_options(
        self, request: AnyRequest, runtime: RuntimeDep, user: UserDep, workspace_id: int
    ) -> Template:
        """The option inputs of the type just picked in a type select (htmx)."""
        query = request.query_params
        prefix = forms.matching(query.get("prefix", ""), r"(f\d{1,2}\.)?")
        context = _new_context(runtime, user, workspace_id)
        context.update(
            ftype=forms.lookup(runtime, str(query.get(prefix + "type", ""))),
            prefix=prefix,
            idp=forms.matching(query.get("idp", ""), r"[a-z0-9-]{0,16}"),
            mode=forms.matching(query.get("mode", "new"), r"new|brief|change") or "new",
        )
        return Template("designer/_type_options.html", context=context)

    @post("/types", sync_to_thread=True)
    def create_type(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, data: Form
    ) -> Response[Any]:
        acc = _admin(runtime, user, workspace_id)
        rows = forms.posted_rows(runtime, data)
        spec = {
            "name": forms.last(data, "name"),
            "fields": [forms.field_spec(r) for r in rows if r["name"]],
        }
        try:
            made = record_types.create_type(runtime, acc, spec)
        except WorkspaceError as exc:
            errors.reraise_access(exc)
            context = _new_context(runtime, user, workspace_id)
            context.update(rows=rows, name=spec["name"], next_row=len(rows))
            errors.spread_row_errors(context, exc, [r for r in rows if r["name"]])
            return Template("designer/new.html", context=context, status_code=exc.status)
        return Redirect(f"/w/{workspace_id}/t/{made['id']}/design", status_code=303)

    # ---- the designer ---------------------------------------------------------------------

    @get(DESIGN, sync_to_thread=True)
    def design_page(
        self, design: DesignDep, open_: Annotated[int | None, QueryParameter(name="open")] = None
    ) -> Template:
        return Template("designer/design.html", context=design.context(open_id=open_))

    @post(DESIGN + "/name", sync_to_thread=True)
    def rename_type(self, design: DesignDep, data: Form) -> Response[Any]:
        acc = design.admin()
        try:
            record_types.rename_type(design.runtime, acc, design.record_type_id, data.get("name"))
        except WorkspaceError as exc:
            errors.reraise_access(exc)
            reason = errors.sentence(exc.fields.get("name", exc.message))
            state = {"type_errors": {"name": reason}, "type_name": forms.last(data, "name")}
            return design.answer("_header", state, status=exc.status)
        return design.answer("_header_swap", {"type_saved": True})

    @post(DESIGN + "/delete", sync_to_thread=True)
    def delete_type(self, design: DesignDep) -> Redirect:
        record_types.delete_type(design.runtime, design.admin(), design.record_type_id)
        return Redirect(f"/w/{design.workspace_id}", status_code=303)

    # ---- fields ---------------------------------------------------------------------------

    @post(DESIGN + "/fields", sync_to_thread=True)
    def add_field(self, design: DesignDep, data: Form) -> Response[Any]:
        acc = design.admin()
        row = forms.posted_row(design.runtime, data, "")
        try:
            made = record_types.add_field(
                design.runtime, acc, design.record_type_id, forms.field_spec(row)
            )
        except WorkspaceError as exc:
            errors.reraise_access(exc)
            row["errors"], row["general"] = errors.split_errors(
                exc, errors.known_keys(row["ftype"])
            )
            return design.answer("_fields_swap", {"add": row}, status=exc.status)
        return design.answer("_fields_swap", {"added": made["id"]})

    @get(FIELD, sync_to_thread=True)
    def field_card(
        self,
        design: DesignDep,
        field_id: int,
        open_: Annotated[bool, QueryParameter(name="open")] = False,
    ) -> Template:
        """A field's card, opened (settings shown) or closed (htmx)."""
        context = design.context(open_id=field_id if open_ else None)
        _card(context, field_id)
        return Template("designer/_field.html", context=context)

    @post(FIELD + "/name", sync_to_thread=True)
    def rename_field(self, design: DesignDep, field_id: int, data: Form) -> Response[Any]:
        opened = forms.last(data, "open") == "1"
        return _change(design, field_id, "name", {"name": data.get("name")}, data, opened)

    @post(FIELD + "/config", sync_to_thread=True)
    def configure_field(self, design: DesignDep, field_id: int, data: Form) -> Response[Any]:
        f = _field_of(design.get_type(design.admin()), field_id)
        changes = {"config": forms.config_from(f.type, data, "", edit=True)}
        return _change(design, field_id, "config", changes, data)

    @post(FIELD + "/type", sync_to_thread=True)
    def change_type(self, design: DesignDep, field_id: int, data: Form) -> Response[Any]:
        row = forms.posted_row(design.runtime, data, "")
        changes = {"type": row["type"], **({"config": row["config"]} if row["config"] else {})}
        return _change(design, field_id, "type", changes, data, retype=row)

    @post(FIELD + "/move", sync_to_thread=True)
    def move_field(self, design: DesignDep, field_id: int, data: Form) -> Response[Any]:
        acc = design.admin()
        keys = [f.key for f in design.get_type(acc).fields]
        at = keys.index(_field_of(design.get_type(acc), field_id).key)
        to = at - 1 if forms.last(data, "direction") == "up" else at + 1
        if 0 <= to < len(keys):
            keys[at], keys[to] = keys[to], keys[at]
            record_types.reorder_fields(design.runtime, acc, design.record_type_id, keys)
        return design.answer("_fields_swap", {"moved": field_id}, field_id=field_id)

    @post(DESIGN + "/order", sync_to_thread=True)
    def reorder(self, design: DesignDep, data: Form) -> Response[Any]:
        """A whole new order at once (drag and drop)."""
        order = [key for key in forms.last(data, "order").split(",") if key]
        try:
            record_types.reorder_fields(
                design.runtime, design.admin(), design.record_type_id, order
            )
        except WorkspaceError as exc:
            errors.reraise_access(exc)
            error = "The fields changed meanwhile; here is their current order."
            return design.answer("_fields_swap", {"list_error": error}, status=exc.status)
        return design.answer("_fields_swap", {})

    @post(FIELD + "/delete", sync_to_thread=True)
    def delete_field(self, design: DesignDep, field_id: int) -> Response[Any]:
        acc = design.admin()
        gone = _field_of(design.get_type(acc), field_id)
        record_types.delete_field(design.runtime, acc, design.record_type_id, field_id)
        return design.answer("_fields_swap", {"list_notice": f"The field {gone.name} was deleted."})


def _change(
    design: Design,
    field_id: int,
    form: str,
    changes: dict[str, Any],
    data: Mapping[str, Any],
    opened: bool = True,
    retype: dict[str, Any] | None = None,
) -> Response[Any]:
    """One ``change_field`` call from one of a field's forms (name, config or type),
    answered with the part of the card that form shows."""
    acc = design.admin()
    rt = design.get_type(acc)
    f = _field_of(rt, field_id)
    state: dict[str, Any] = {"open_id": field_id if opened else None, "acted": field_id}
    fragment = {"name": "_head_swap", "config": "_settings_swap"}.get(form, "_field_swap")
    try:
        if changes.get("type", "") != f.type.name:  # picking the same type changes nothing
            force = forms.last(data, "force") == "1"
            record_types.change_field(design.runtime, acc, rt.id, field_id, changes, force=force)
    except Conflict as exc:
        state.update(
            open_id=field_id, conflict=errors.conflict(design.runtime, acc, rt, exc, form, data)
        )
        return design.answer(fragment, {**state, "retype": retype}, status=409, field_id=field_id)
    except WorkspaceError as exc:
        errors.reraise_access(exc)
        ftype = retype["ftype"] if retype else f.type
        known = {"name"} if form == "name" else errors.known_keys(ftype)
        reasons, general = errors.split_errors(exc, known)
        # The inputs show what was typed, next to what is wrong with it.
        state.update(errors={form: reasons}, general={form: general}, retype=retype)
        state.update(typed_name=changes.get("name"), sent=changes.get("config"))
        if form != "config":
            state["sent"] = None
        return design.answer(fragment, state, status=exc.status, field_id=field_id)
    state["saved"] = field_id
    return design.answer(fragment, state, field_id=field_id, opened=opened)


# ---- context ---------------------------------------------------------------------------


def _admin(runtime: Runtime, user: SessionUser, workspace_id: int) -> Access:
    """Designing needs the admin role: others get the service's 403 page."""
    acc, _ = workspace_context(runtime, user, workspace_id)
    acc.require("admin")
    return acc


def _new_context(runtime: Runtime, user: SessionUser, workspace_id: int) -> dict[str, Any]:
    acc, context = workspace_context(runtime, user, workspace_id)
    acc.require("admin")
    context.update(
        field_types=forms.type_choices(runtime),
        option_labels=forms.OPTION_LABELS,
        rows=[forms.blank_row(i) for i in range(forms.NEW_ROWS)],
        next_row=forms.NEW_ROWS,
        max_rows=forms.MAX_ROWS,
        name="",
        errors={},
        general=None,
    )
    return context


def _context(
    runtime: Runtime, user: SessionUser, workspace_id: int, record_type_id: int, **extra: Any
) -> dict[str, Any]:
    acc, context = workspace_context(runtime, user, workspace_id)
    acc.require("admin")
    rt = record_types.get_type(runtime, acc, record_type_id)
    total = records.list_records(runtime, acc, rt, limit=1, with_total=True)["total"]
    context.update(
        current_type=rt.id,
        rt=rt,
        record_count=total,
        base=f"/w/{workspace_id}/t/{rt.id}/design",
        field_types=forms.type_choices(runtime),
        option_labels=forms.OPTION_LABELS,
        colors=forms.COLORS,
        refs=refs_for(runtime, acc, rt, pickers=True),
        type_name=rt.name,
        add=forms.posted_row(runtime, {}, ""),
    )
    context.update(dict.fromkeys(STATE), errors={}, general={}, type_errors={})
    context.update(extra)
    return context


def _card(context: dict[str, Any], field_id: int) -> None:
    """What ``_field.html`` needs when rendered on its own instead of in the list's loop."""
    fields = context["rt"].fields
    found = [i for i, f in enumerate(fields) if f.id == field_id]
    if not found:
        return
    context.update(f=fields[found[0]], index=found[0])


def _field_of(rt: RecordTypeDef, field_id: int) -> FieldDef:
    f = rt.field_by_id(field_id)
    if f is None:
        raise NotFound("field not found")
    return f
