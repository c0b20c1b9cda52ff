"""Automations of a workspace: the list, the form to create or change one (a trigger,
optional conditions, ordered actions), turning one on or off, duplicating and deleting it.

Forms post, then redirect (303). A refused save shows the form again with what was typed
and each reason beside its input. htmx swaps a trigger's options when its type changes and
adds an action row; without JavaScript, the form's buttons do the same by posting.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import URLEncodedBody
from litestar.response import Response, Template

from workspace.automations import automations, runs
from workspace.automations.kinds import registries
from workspace.automations.pages import form_input, screens
from workspace.errors import ValidationFailed, WorkspaceError
from workspace.types import record_types
from workspace.web.session import RuntimeDep, UserDep

Form = URLEncodedBody[dict[str, Any]]
LIST = "/w/{workspace_id:int}/automations"
ONE = LIST + "/{automation_id:int}"


class AutomationPages(Controller):
    path = "/"

    @get(LIST, sync_to_thread=True)
    def index(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, done: str | None = None
    ) -> Template:
        acc, context = screens.context_for(runtime, user, workspace_id)
        regs = registries(runtime.pm)
        found = automations.list_automations(runtime, acc)
        summary = runs.overview(runtime, acc)
        types = {t["id"]: screens.record_type(runtime, acc, t["id"]) for t in context["types"]}
        for a in found:
            a["trigger_words"] = screens.trigger_words(
                regs, types.get(a["record_type"]), a["trigger"]
            )
            a["type_name"] = t.name if (t := types.get(a["record_type"])) else "?"
            a["summary"] = summary.get(a["id"], {"last": None, "dead": 0})
        context.update(automations=found, notice=screens.notice(done))
        return Template("automations/index.html", context=context)

    @get(LIST + "/new", sync_to_thread=True)
    def new(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, type: int | None = None
    ) -> Template:
        acc, context = screens.context_for(runtime, user, workspace_id)
        rt = screens.record_type(runtime, acc, type) if type is not None else None
        if rt is None:
            return Template("automations/choose_type.html", context=context)
        form = {"record_type": str(rt.id), "trigger.type": "record_updated", "action.0.type": ""}
        form["enabled"] = "on"
        return _form_page(runtime, user, workspace_id, form, rt.id)

    @post(LIST + "/new", sync_to_thread=True)
    def create(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, data: Form
    ) -> Response[Any]:
        return _save(runtime, user, workspace_id, None, data)

    @get(ONE + "/edit", sync_to_thread=True)
    def edit(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, automation_id: int
    ) -> Template:
        acc, _ = screens.context_for(runtime, user, workspace_id)
        found = automations.get(runtime, acc, automation_id)
        plain = screens.plain_triggers(registries(runtime.pm))
        form = form_input.form_of(found, plain)
        return _form_page(runtime, user, workspace_id, form, found["record_type"], found)

    @post(ONE + "/edit", sync_to_thread=True)
    def change(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, automation_id: int, data: Form
    ) -> Response[Any]:
        return _save(runtime, user, workspace_id, automation_id, data)

    @get(LIST + "/trigger-options", sync_to_thread=True)
    def trigger_options(
        self,
        request: Request[Any, Any, Any],
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        record_type: int,
    ) -> Template:
        """The inputs of one kind of trigger, swapped in when the trigger type changes (htmx
        sends the select's own value, ``trigger.type``)."""
        acc, context = screens.context_for(runtime, user, workspace_id)
        rt = record_types.get_type(runtime, acc, record_type)
        kind = str(request.query_params.get("trigger.type", ""))
        form = {"record_type": str(rt.id), "trigger.type": kind}
        context.update(screens.form_context(runtime, acc, rt, form), errors={})
        return Template("automations/_trigger.html", context=context)

    @get(LIST + "/action-row", sync_to_thread=True)
    def action_row(
        self,
        request: Request[Any, Any, Any],
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        record_type: int,
        index: int,
        more: bool = False,
    ) -> Template:
        """One action row: a new one (``more``: with the next Add button out of band), or
        the inputs of the row at ``index`` for the type just chosen (htmx sends the
        select's own value, ``action.<index>.type``)."""
        acc, context = screens.context_for(runtime, user, workspace_id)
        rt = record_types.get_type(runtime, acc, record_type)
        kind = "" if more else str(request.query_params.get(f"action.{index}.type", ""))
        form = {"record_type": str(rt.id), f"action.{index}.type": kind}
        context.update(screens.form_context(runtime, acc, rt, form), errors={}, more=more)
        context.update(i=index, next_index=index + 1)
        return Template("automations/_action.html", context=context)

    @post(ONE + "/enable", sync_to_thread=True)
    def enable(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, automation_id: int
    ) -> Response[Any]:
        return _switch(runtime, user, workspace_id, automation_id, True)

    @post(ONE + "/disable", sync_to_thread=True)
    def disable(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, automation_id: int
    ) -> Response[Any]:
        return _switch(runtime, user, workspace_id, automation_id, False)

    @post(ONE + "/duplicate", sync_to_thread=True)
    def duplicate(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, automation_id: int
    ) -> Response[Any]:
        acc, _ = screens.context_for(runtime, user, workspace_id)
        made = automations.duplicate(runtime, acc, automation_id)
        return screens.see_other(f"/w/{workspace_id}/automations/{made['id']}?done=duplicated")

    @get(ONE + "/delete", sync_to_thread=True)
    def confirm_delete(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, automation_id: int
    ) -> Template:
        acc, context = screens.context_for(runtime, user, workspace_id)
        context["automation"] = automations.get(runtime, acc, automation_id)
        return Template("automations/delete.html", context=context)

    @post(ONE + "/delete", sync_to_thread=True)
    def delete(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, automation_id: int
    ) -> Response[Any]:
        acc, _ = screens.context_for(runtime, user, workspace_id)
        automations.delete_automation(runtime, acc, automation_id)
        return screens.see_other(f"/w/{workspace_id}/automations?done=deleted")


def _switch(
    runtime: Any, user: Any, workspace_id: int, automation_id: int, on: bool
) -> Response[Any]:
    acc, _ = screens.context_for(runtime, user, workspace_id)
    automations.set_enabled(runtime, acc, automation_id, on)
    done = "enabled" if on else "disabled"
    return screens.see_other(f"/w/{workspace_id}/automations/{automation_id}?done={done}")


def _save(
    runtime: Any, user: Any, workspace_id: int, automation_id: int | None, data: dict[str, Any]
) -> Response[Any]:
    """Save the form; or, for the form's own buttons (add, move up or remove an action row;
    show a trigger's settings without JavaScript), show it again changed and unsaved."""
    acc, _ = screens.context_for(runtime, user, workspace_id)
    form = {k: v for k, v in data.items() if k != "_csrf_token"}
    current = automations.get(runtime, acc, automation_id) if automation_id else None
    record_type = current["record_type"] if current else form.get("record_type")
    if {"_add", "_up", "_remove", "_refresh"} & set(form):
        form = _unsaved(form)
    if form.pop("_add", None):
        form[f"action.{max(form_input.rows(form), default=-1) + 1}.type"] = ""
        return _form_page(runtime, user, workspace_id, form, record_type, current)
    form.pop("_save", None)
    if form.pop("_refresh", None):
        return _form_page(runtime, user, workspace_id, form, record_type, current)
    up = str(form.pop("_up", ""))
    if up.isdigit():
        form = form_input.moved_up(form, int(up))
        return _form_page(runtime, user, workspace_id, form, record_type, current)
    removed = form.pop("_remove", None)
    if removed is not None:
        form = {k: v for k, v in form.items() if not k.startswith(f"action.{removed}.")}
        return _form_page(runtime, user, workspace_id, form, record_type, current)
    plain = screens.plain_triggers(registries(runtime.pm))
    try:
        body = form_input.body_of(form, plain)
        if current:
            body.pop("record_type", None)
            saved = automations.update_automation(runtime, acc, current["id"], body)
        else:
            saved = automations.create(runtime, acc, body)
    except ValidationFailed as exc:
        errors = form_input.input_errors(exc, form, plain)
        shown = _unsaved(form)
        return _form_page(runtime, user, workspace_id, shown, record_type, current, exc, errors)
    except WorkspaceError as exc:
        return _form_page(runtime, user, workspace_id, _unsaved(form), record_type, current, exc)
    return screens.see_other(f"/w/{workspace_id}/automations/{saved['id']}?done=saved")


def _unsaved(form: dict[str, Any]) -> dict[str, Any]:
    """The form shown again, unsaved or refused: a typed secret is never sent back, so its
    input asks for it again (a save would otherwise go without it)."""
    typed = [k for k, v in form.items() if k.endswith(".secret") and str(v).strip()]
    return {**form, **{f"{k}_retype": "1" for k in typed}}


def _form_page(
    runtime: Any,
    user: Any,
    workspace_id: int,
    form: dict[str, Any],
    record_type: Any,
    current: dict[str, Any] | None = None,
    error: WorkspaceError | None = None,
    errors: dict[str, str] | None = None,
) -> Template:
    acc, context = screens.context_for(runtime, user, workspace_id)
    rt = screens.record_type(runtime, acc, record_type)
    if rt is None:
        return Template("automations/choose_type.html", context=context, status_code=422)
    context.update(screens.form_context(runtime, acc, rt, form))
    context.update(
        automation=current,
        error=error.message if error else None,
        errors=errors or {},
        next_index=max(context["rows"], default=-1) + 1,
    )
    status = error.status if error else 200
    return Template("automations/edit.html", context=context, status_code=status)
