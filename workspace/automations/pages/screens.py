"""What the automation pages share: the layout's context, the form's context (the
triggers and actions the plugins registered, the record type's fields, errors by input),
a trigger in words, and the redirect after a post."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar.response import Redirect

from workspace.access.sessions import SessionUser
from workspace.automations.kinds import Registries, Trigger, registries
from workspace.automations.pages import form_input
from workspace.principal import Access
from workspace.runtime import Runtime
from workspace.schema.tables import RecordTypeDef
from workspace.types import record_types
from workspace.web.nav import workspace_context

NOTICES = {
    "saved": "Saved.",
    "enabled": "Turned on: it runs on the next matching event.",
    "disabled": "Turned off: nothing starts it until you turn it on again.",
    "duplicated": "This is a copy, turned off. Change it, then turn it on.",
    "deleted": "Deleted, with its runs.",
}
#: After a replay or dismiss, with the number of runs it moved (runs in another state are
#: left alone, and the count says so).
MOVED = {
    "replayed": "Replayed {n} run{s}: each starts again from the step that failed.",
    "dismissed": "Dismissed {n} run{s}: kept in the log, out of the dead letter.",
}


def notice(done: str | None, moved: int | None = None) -> str | None:
    if done in MOVED and moved is not None:
        return MOVED[done].format(n=moved, s="" if moved == 1 else "s")
    return NOTICES.get(done or "")


def see_other(url: str) -> Redirect:
    return Redirect(url, status_code=303)


def context_for(
    runtime: Runtime, user: SessionUser, workspace_id: int
) -> tuple[Access, dict[str, Any]]:
    acc, context = workspace_context(runtime, user, workspace_id)
    context["section"] = "automations"
    context["base"] = f"/w/{workspace_id}/automations"
    return acc, context


def plain_triggers(regs: Registries) -> set[str]:
    """Triggers that take no settings (their ``check`` is the default one)."""
    return {n for n in regs.triggers.names() if type(regs.triggers.get(n)).check is Trigger.check}


def form_context(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, form: Mapping[str, Any]
) -> dict[str, Any]:
    """What the automation form needs besides the layout."""
    regs = registries(runtime.pm)
    plain = plain_triggers(regs)
    trigger_type = str(form.get("trigger.type") or "record_created")
    return {
        "rt": rt,
        "fields": [(f.key, f.name) for f in rt.fields],
        "date_fields": [(f.key, f.name) for f in rt.fields if f.type.name == "date"],
        "triggers": [(n, regs.triggers.get(n).label or n) for n in regs.triggers.names()],
        "actions": [(n, regs.actions.get(n).label or n) for n in regs.actions.names()],
        "trigger_type": trigger_type,
        "trigger_inputs": form_input.trigger_inputs(trigger_type, plain),
        "action_inputs": form_input.action_inputs,
        "rows": form_input.rows(form),
        "values": form,
    }


def record_type(runtime: Runtime, acc: Access, record_type_id: Any) -> RecordTypeDef | None:
    try:
        return record_types.get_type(runtime, acc, int(record_type_id))
    except (TypeError, ValueError, LookupError):
        return None


def trigger_words(regs: Registries, rt: RecordTypeDef | None, trigger: Mapping[str, Any]) -> str:
    """``A record is updated: Status becomes Customer``, for lists and the automation page."""
    kind = str(trigger.get("type"))
    label = regs.triggers.get(kind).label if kind in regs.triggers else kind
    names = {f.key: f.name for f in rt.fields} if rt else {}
    details = []
    if trigger.get("fields"):
        details.append(
            "when " + " or ".join(names.get(k, k) for k in trigger["fields"]) + " changes"
        )
    for key, value in (trigger.get("to") or {}).items():
        details.append(f"{names.get(key, key)} becomes {value}")
    if trigger.get("cron"):
        details.append(f"cron {trigger['cron']}")
    if trigger.get("field"):
        details.append(f"{names.get(trigger['field'], trigger['field'])} at {trigger.get('time')}")
    if trigger.get("outcomes"):
        details.append("outcome " + " or ".join(trigger["outcomes"]))
    return label + (": " + ", ".join(details) if details else "")


def action_label(regs: Registries, kind: str) -> str:
    return regs.actions.get(kind).label if kind in regs.actions else kind
