"""The designer's answers to a refused change: reasons next to the inputs they concern, and
for a 409 the records it concerns, with "anyway" when the service says force gets past it.

Service errors are written for API clients (``config.max_length: must be a whole number``);
the designer says them as sentences that name options the way its labels do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from workspace.errors import Conflict, WorkspaceError
from workspace.principal import Access
from workspace.records import labels as record_labels
from workspace.runtime import Runtime
from workspace.schema.fields import FieldType
from workspace.schema.tables import RecordTypeDef
from workspace.types.pages.designer_forms import COMMON, OPTION_LABELS

#: Reasons written for API clients, said the way the designer's inputs ask for them.
PLAIN = {"must be the id of a record type in this workspace": "pick the record type to link to"}
ROW_ERROR = re.compile(r"^fields\[(\d+)\]\.(.+)$")
#: Form inputs a forced repeat of a change must not copy.
NOT_REPEATED = {"_csrf_token", "force"}


def reraise_access(exc: WorkspaceError) -> None:
    """Who may not design, or what is not there, gets the error page instead of a form."""
    if exc.status in {401, 403, 404}:
        raise exc


def known_keys(ftype: FieldType | None) -> set[str]:
    """The error keys a field form shows next to an input: the rest go above the form."""
    options = [*COMMON, *(ftype.options if ftype else ())]
    return {"name", "type", *(f"config.{k}" for k in options)}


def split_errors(exc: WorkspaceError, known: set[str]) -> tuple[dict[str, str], str | None]:
    """Reasons for the inputs the form shows, and a message for what it does not show."""
    shown = {k: sentence(v) for k, v in exc.fields.items() if k in known}
    rest = [f"{k}: {v}" for k, v in exc.fields.items() if k not in known]
    if rest:
        return shown, sentence("; ".join(rest))
    return shown, None if shown else sentence(exc.message)


def sentence(text: str) -> str:
    """A service reason as a sentence, naming options as the designer labels them."""
    text = PLAIN.get(text, text)
    text = re.sub(r"config\.(\w+)", lambda m: "the " + OPTION_LABELS.get(m[1], m[1]).lower(), text)
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def spread_row_errors(
    context: dict[str, Any], exc: WorkspaceError, sent: list[dict[str, Any]]
) -> None:
    """``fields[2].config.choices`` belongs next to the third row that was sent."""
    general = []
    for key, reason in exc.fields.items():
        m = ROW_ERROR.match(key)
        if key == "name":
            context["errors"]["name"] = sentence(reason)
        elif m and int(m[1]) < len(sent):
            sent[int(m[1])]["errors"][m[2]] = sentence(reason)
        else:
            general.append(f"{key}: {reason}")
    if general or not exc.fields:
        context["general"] = sentence("; ".join(general) or exc.message)


def conflict(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    exc: Conflict,
    form: str,
    data: Mapping[str, Any],
) -> dict[str, Any]:
    """A refused change, the records it concerns and, when the service says forcing gets past
    it (``details["forceable"]``), the same form again with ``force``: "convert anyway"."""
    examples = exc.details.get("examples", [])
    ids = {e["record"] for e in examples if "record" in e}
    ids |= {r for e in examples for r in e.get("records", [])}
    labels = record_labels.labels(runtime, acc, rt, ids)
    items = []
    for e in examples:
        rids = [e["record"]] if "record" in e else e.get("records", [])
        items.append(
            {
                "records": [(r, labels.get(r, f"#{r}")) for r in rids],
                "value": shown_value(e.get("value", e.get("values"))),
                "reason": e.get("reason"),
            }
        )
    posted = [
        (k, str(v))
        for k, values in data.items()
        if k not in NOT_REPEATED
        for v in (values if isinstance(values, list) else [values])
    ]
    return {
        "message": sentence(exc.message),
        "examples": items,
        "form": form if exc.details.get("forceable") else None,
        "posted": posted,
    }


def shown_value(value: Any) -> str:
    """A stored value as the conflict list shows it."""
    if value is None or value == []:
        return "(empty)"
    if isinstance(value, dict) and "amount" in value:
        return f"{value['amount']} {value.get('currency', '')}".strip()
    if isinstance(value, list):
        return ", ".join(shown_value(v) for v in value)
    return str(value)
