"""The automation form as plain HTML inputs, and back.

The page shows one flat form (``trigger.type``, ``action.3.title``...); this turns what was
typed into the body the service checks, and the service's refusals (``actions[1].values``)
back into the name of the input to show them beside. An action the page has no inputs for
(a plugin's, or the related-record ones) is edited as one JSON object of its settings, so
every registered action can be built here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workspace.errors import ValidationFailed


@dataclass(frozen=True)
class Input:
    """One input of a trigger or action. ``kind``: text, long (a text area), number, json
    (a value written as JSON), secret (never shown again) or choice (a field of the type)."""

    key: str
    label: str
    kind: str = "text"
    hint: str = ""
    multiple: bool = False


FIELD_VALUES = 'JSON: {"field key": value}. Text may use {{ record.name }}, {{ today }}.'
ACTION_INPUTS: dict[str, tuple[Input, ...]] = {
    "set_fields": (Input("values", "Values", "json", FIELD_VALUES),),
    "create_task": (
        Input("title", "Task title", hint="May use {{ record.name }}."),
        Input("assignee", "Assignee", hint="A member's user id, or a template giving one."),
        Input("due_in_days", "Due in days", "number"),
    ),
    "add_comment": (Input("text", "Comment", "long"),),
    "webhook": (
        Input("url", "Webhook URL"),
        Input("body", "JSON body", "json", "Empty: the record and the trigger are sent."),
        Input("secret", "Signing secret", "secret", "At least 16 characters; HMAC-SHA256."),
    ),
    "email": (
        Input("to", "To", hint="An address, or {{ record.email }}."),
        Input("subject", "Subject"),
        Input("text", "Text", "long"),
    ),
    "wait": (
        Input("minutes", "Minutes", "number"),
        Input("hours", "Hours", "number"),
        Input("days", "Days", "number"),
    ),
    "stop_if": (Input("filter", "Stop when the record matches", "json", "A records filter."),),
}
#: Any other action: its settings as one JSON object.
SETTINGS = (Input("config", "Settings", "json", 'JSON, e.g. {"relation": "account", ...}'),)
TRIGGER_INPUTS: dict[str, tuple[Input, ...]] = {
    "record_updated": (
        Input("fields", "Only when one of these fields changes", "choice", multiple=True),
        Input("to_field", "Only when this field…", "choice"),
        Input("to_value", "…becomes"),
    ),
    "form_submitted": (
        Input("form", "Only this form (id)", "number"),
        Input("outcomes", "Only these outcomes", hint="Comma separated: created, updated…"),
    ),
    "date_reached": (
        Input("field", "Date field", "choice"),
        Input("time", "At (workspace time)", hint="09:00"),
        Input("days_before", "Days ahead", "number"),
    ),
    "schedule": (Input("cron", "Cron expression", hint="0 9 * * 1-5: weekdays at nine."),),
}
TRIGGER_SETTINGS = (Input("config", "Settings", "json", "JSON object of the trigger's settings"),)
NO_INPUTS: tuple[Input, ...] = ()
ACTION_KEY = re.compile(r"^action\.(\d+)\.type$")
API_ACTION = re.compile(r"^actions\[(\d+)\](?:\.([^.\[]+))?")


def action_inputs(action_type: str) -> tuple[Input, ...]:
    return ACTION_INPUTS.get(action_type, SETTINGS)


def trigger_inputs(trigger_type: str, plain: set[str]) -> tuple[Input, ...]:
    """``plain``: the triggers without settings (record created, deleted...)."""
    if trigger_type in TRIGGER_INPUTS:
        return TRIGGER_INPUTS[trigger_type]
    return NO_INPUTS if trigger_type in plain else TRIGGER_SETTINGS


def rows(form: Mapping[str, Any]) -> list[int]:
    """The indexes of the action rows in ``form``, in order."""
    found = (ACTION_KEY.match(key) for key in form)
    return sorted(int(m.group(1)) for m in found if m)


def moved_up(form: Mapping[str, Any], index: int) -> dict[str, Any]:
    """The form with action row ``index`` swapped with the row before it (the order the
    actions run in is the rows' order)."""
    order = rows(form)
    if index not in order or order.index(index) == 0:
        return dict(form)
    before = order[order.index(index) - 1]
    swap = {f"action.{index}.": f"action.{before}.", f"action.{before}.": f"action.{index}."}
    out = {}
    for key, value in form.items():
        prefix = next((p for p in swap if key.startswith(p)), None)
        out[swap[prefix] + key.removeprefix(prefix) if prefix else key] = value
    return out


# ---- from the form to the service ----------------------------------------------------------


def body_of(form: Mapping[str, Any], plain: set[str]) -> dict[str, Any]:
    """The automation the form describes, for the service to check (which names the
    problem). Raises ValidationFailed (in the API's names) for JSON that does not parse."""
    body: dict[str, Any] = {
        "name": _text(form, "name"),
        "trigger": _trigger(form, plain),
        "actions": [_action(form, i, n) for n, i in enumerate(rows(form))],
        "enabled": _text(form, "enabled") == "on",
    }
    record_type = _text(form, "record_type")
    body["record_type"] = int(record_type) if record_type.isdigit() else record_type
    conditions = {}
    for part in ("filter", "changed"):
        raw = _text(form, f"conditions.{part}")
        if raw:
            conditions[part] = _json(raw, f"conditions.{part}")
    if conditions:
        body["conditions"] = conditions
    return body


def _trigger(form: Mapping[str, Any], plain: set[str]) -> dict[str, Any]:
    kind = _text(form, "trigger.type")
    found: dict[str, Any] = {"type": kind}
    if kind == "record_updated":
        found["fields"] = _many(form, "trigger.fields")
        if _text(form, "trigger.to_field"):
            value: Any = _text(form, "trigger.to_value")
            value = {"true": True, "false": False}.get(value, value)  # a checkbox
            found["to"] = {_text(form, "trigger.to_field"): value}
        return found
    if kind == "form_submitted":
        form_id = _text(form, "trigger.form")
        found["form"] = _number(form_id, "trigger.form") if form_id else None
        outcomes = _text(form, "trigger.outcomes")
        found["outcomes"] = [o.strip() for o in outcomes.split(",") if o.strip()]
        return found
    for item in trigger_inputs(kind, plain):
        raw = _text(form, f"trigger.{item.key}")
        if item.key == "config":
            found.update(_object(raw, "trigger") if raw else {})
        elif raw:
            found[item.key] = _number(raw, f"trigger.{item.key}") if item.kind == "number" else raw
    return found


def _action(form: Mapping[str, Any], index: int, position: int) -> dict[str, Any]:
    kind = _text(form, f"action.{index}.type")
    where = f"actions[{position}]"
    found: dict[str, Any] = {"type": kind}
    for item in action_inputs(kind):
        raw = _text(form, f"action.{index}.{item.key}")
        if item.kind == "secret":
            kept = _text(form, f"action.{index}.{item.key}_sealed")
            if raw:
                found[item.key] = raw
            elif kept:
                found[f"{item.key}_sealed"] = kept
        elif not raw:
            continue
        elif item.key == "config":
            found.update(_object(raw, where))
        elif item.kind == "json":
            found[item.key] = _json(raw, f"{where}.{item.key}")
        elif item.kind == "number":
            found[item.key] = _number(raw, f"{where}.{item.key}")
        else:
            found[item.key] = raw
    return found


def _text(form: Mapping[str, Any], key: str) -> str:
    value = form.get(key, "")
    if isinstance(value, list):
        value = value[-1] if value else ""
    return str(value).strip()


def _many(form: Mapping[str, Any], key: str) -> list[str]:
    value = form.get(key) or []
    return [str(v) for v in (value if isinstance(value, list) else [value]) if str(v)]


def _number(raw: str, where: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValidationFailed.single(where, "must be a whole number") from None


def _json(raw: str, where: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ValidationFailed.single(where, f"is not valid JSON ({exc})") from None


def _object(raw: str, where: str) -> dict[str, Any]:
    value = _json(raw, where)
    if not isinstance(value, dict):
        raise ValidationFailed.single(where, "must be a JSON object of settings")
    return {k: v for k, v in value.items() if k != "type"}


# ---- from the service to the form ----------------------------------------------------------


def form_of(automation: Mapping[str, Any], plain: set[str]) -> dict[str, Any]:
    """A saved automation as the inputs of the form, to edit it."""
    trigger = dict(automation["trigger"])
    kind = trigger.pop("type")
    form: dict[str, Any] = {
        "name": automation["name"],
        "record_type": str(automation["record_type"]),
        "enabled": "on" if automation["enabled"] else "",
        "trigger.type": kind,
    }
    if kind == "record_updated":
        form["trigger.fields"] = list(trigger.get("fields") or [])
        for key, value in (trigger.get("to") or {}).items():
            form["trigger.to_field"], form["trigger.to_value"] = key, _shown(value)
    elif kind == "form_submitted":
        form["trigger.form"] = _shown(trigger.get("form"))
        form["trigger.outcomes"] = ", ".join(trigger.get("outcomes") or [])
    elif trigger_inputs(kind, plain) == TRIGGER_SETTINGS:
        form["trigger.config"] = json.dumps(trigger) if trigger else ""
    else:
        form.update({f"trigger.{k}": _shown(v) for k, v in trigger.items()})
    for part, value in (automation.get("conditions") or {}).items():
        form[f"conditions.{part}"] = json.dumps(value)
    for index, action in enumerate(automation["actions"]):
        form.update(_action_form(index, action))
    return form


def _action_form(index: int, action: Mapping[str, Any]) -> dict[str, Any]:
    config = {k: v for k, v in action.items() if k != "type"}
    form: dict[str, Any] = {f"action.{index}.type": action["type"]}
    inputs = action_inputs(action["type"])
    if inputs == SETTINGS:
        form[f"action.{index}.config"] = json.dumps(config) if config else ""
        return form
    for item in inputs:
        if item.kind == "secret":
            form[f"action.{index}.{item.key}_sealed"] = config.get(f"{item.key}_sealed") or ""
        elif item.key in config:
            value = config[item.key]
            json_text = item.kind == "json" and value is not None
            form[f"action.{index}.{item.key}"] = json.dumps(value) if json_text else _shown(value)
    return form


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool | dict | list):
        return json.dumps(value)
    return str(value)


def input_errors(
    error: ValidationFailed, form: Mapping[str, Any], plain: set[str]
) -> dict[str, str]:
    """The service's refusal by form input name (``actions[1].values.status`` is the
    ``values`` input of the second action row), so each shows beside what caused it."""
    order = rows(form)
    found: dict[str, str] = {}
    for name, reason in error.fields.items():
        found.setdefault(_input_name(name, form, order, plain), reason)
    return found


def _input_name(name: str, form: Mapping[str, Any], order: list[int], plain: set[str]) -> str:
    action = API_ACTION.match(name)
    if action:
        position, key = int(action.group(1)), action.group(2)
        if position >= len(order):
            return "actions"
        index = order[position]
        inputs = action_inputs(_text(form, f"action.{index}.type"))
        if inputs == SETTINGS and key != "type":
            return f"action.{index}.config"
        if key == "secret_sealed":
            key = "secret"
        known = key == "type" or any(item.key == key for item in inputs)
        return f"action.{index}.{key}" if known else f"action.{index}"
    if name.startswith("trigger."):
        key = re.split(r"[.\[]", name.removeprefix("trigger."))[0]
        inputs = trigger_inputs(_text(form, "trigger.type"), plain)
        if key == "to":
            return "trigger.to_field"
        if key == "type" or any(item.key == key for item in inputs):
            return f"trigger.{key}"
        return "trigger.config" if inputs == TRIGGER_SETTINGS else "trigger.type"
    if name.startswith("conditions.changed"):
        return "conditions.changed"
    if name.startswith("conditions"):
        return "conditions.filter"
    return name.split(".")[0]
