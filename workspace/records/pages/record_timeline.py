"""A record's activity history as people read it: who, when, through what, old -> new.

The history keeps values as the API showed them at the time (ids, ISO strings); this turns
them into names and titles, and field keys into the fields' display names. Comments, tasks
and files are entries of the same history, so they come in the one stream in
order; ``record_timeline_work`` shapes those.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from workspace import activity
from workspace.automations import automations, runs
from workspace.clock import utcnow
from workspace.errors import NotFound
from workspace.principal import Access
from workspace.records import labels as record_labels
from workspace.records.pages import record_timeline_work as work
from workspace.records.pages.record_timeline_work import Change, WorkView
from workspace.runtime import Runtime
from workspace.schema.fields import FieldDef
from workspace.schema.tables import RecordTypeDef
from workspace.types import record_types
from workspace.web.templating import when

PAGE = 20
#: The latest automation runs on the record shown above its history.
RUNS = 10
LONGEST = 240
SOURCES = {
    "ui": "in the app",
    "api": "through the API",
    "form": "from a public form",
    "import": "by an import",
    "cli": "from the command line",
    "automation": "by an automation",
    "connector": "by a connector",
    "merge": "by a merge",
}
WITHOUT_ACTOR = {"form": "A public form", "automation": "An automation", "connector": "A connector"}


@dataclass(frozen=True)
class Event:
    id: int
    action: str
    actor: str
    source: str
    at: dt.datetime
    changes: list[Change] = field(default_factory=list)
    #: A comment, task or file event's own view (see ``record_timeline_work``).
    work: WorkView | None = None

    @property
    def exact(self) -> str:
        return when(self.at)

    @property
    def ago(self) -> str:
        return ago(self.at)

    @property
    def iso(self) -> str:
        return self.at.isoformat()


def timeline(
    runtime: Runtime,
    acc: Access,
    rt: RecordTypeDef,
    record_id: int,
    members: Mapping[int, str],
    before: int | None = None,
) -> dict[str, Any]:
    """One page of the record's history, newest first, and where the next page starts."""
    page = activity.for_record(runtime, acc, rt.id, record_id, limit=PAGE, before=before)
    automations.with_names(runtime, acc, page)
    labels = _relation_labels(runtime, acc, rt, page["items"])
    field_names = {f.id: f.name for f in rt.fields}
    views = work.views(runtime, acc, page["items"], members, field_names)
    events = [_event(rt, item, members, labels, views.get(item["id"])) for item in page["items"]]
    found = {"events": events, "next_before": page["next_before"], "runs": []}
    if before is None:  # the latest runs go with the latest page
        latest = runs.list_runs(runtime, acc, record_type_id=rt.id, record_id=record_id, limit=RUNS)
        found["runs"] = latest["items"]
    return found


def ago(at: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """ "5 min ago", "yesterday", or the date for anything older than a week. ``None``: a
    row another system added to an adopted table has no known creation time."""
    if at is None:
        return "at a time not known"
    seconds = ((now or utcnow()) - at).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    days = int(seconds // 86400)
    if days == 1:
        return "yesterday"
    if days < 7:
        return f"{days} days ago"
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d")


def actor_name(actor: int | None, source: str, members: Mapping[int, str]) -> str:
    if actor is None:
        return WITHOUT_ACTOR.get(source, "The system")
    return members.get(actor, "A former member")


def value_text(
    f: FieldDef | None, value: Any, labels: Mapping[int, str], members: Mapping[int, str]
) -> str | None:
    """A stored history value as text; ``None`` for an empty value."""
    if value is None or value == [] or value == "":
        return None
    kind = f.type.name if f is not None else ""
    if kind == "checkbox":
        return "Yes" if value else "No"
    if kind == "relation" and isinstance(value, list):
        return ", ".join(labels.get(v, f"#{v}") for v in value)
    if kind == "user" and isinstance(value, int):
        return members.get(value, f"#{value}")
    if kind == "money" and isinstance(value, dict):
        return f"{value.get('amount')} {value.get('currency')}"
    if kind == "datetime" and isinstance(value, str):
        try:
            return when(dt.datetime.fromisoformat(value))
        except ValueError:
            return value
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    text = str(value)
    return text if len(text) <= LONGEST else text[: LONGEST - 1] + "…"


def _event(
    rt: RecordTypeDef,
    item: Mapping[str, Any],
    members: Mapping[int, str],
    labels: Mapping[str, Mapping[int, str]],
    view: WorkView | None = None,
) -> Event:
    return Event(
        id=item["id"],
        action=item["action"],
        actor=actor_name(item["actor"], item["source"], members),
        source=_source(item),
        at=item["at"],
        changes=view.changes if view else _field_changes(rt, item, members, labels),
        work=view,
    )


def _source(item: Mapping[str, Any]) -> str:
    if item.get("source_name"):
        return f"by automation {item['source_name']}"
    return SOURCES.get(item["source"], f"via {item['source']}")


def _field_changes(
    rt: RecordTypeDef,
    item: Mapping[str, Any],
    members: Mapping[int, str],
    labels: Mapping[str, Mapping[int, str]],
) -> list[Change]:
    changes = []
    for c in item["changes"] or []:
        key = _key(c)
        f = rt.field_by_key(key)
        field_labels = labels.get(key, {})
        changes.append(
            Change(
                field=f.name if f is not None else key,
                old=value_text(f, c.get("old"), field_labels, members),
                new=value_text(f, c.get("new"), field_labels, members),
                reason=c.get("reason"),
            )
        )
    return changes


def _key(change: Mapping[str, Any]) -> str:
    """Field changes name the field under ``field``; file entries use ``key``."""
    return str(change.get("field") or change.get("key") or "")


def _relation_labels(
    runtime: Runtime, acc: Access, rt: RecordTypeDef, items: list[dict[str, Any]]
) -> dict[str, dict[int, str]]:
    """Titles of every record a relation change in ``items`` mentions, per field key."""
    wanted: dict[str, set[int]] = {}
    for item in items:
        for c in item["changes"] or []:
            for side in (c.get("old"), c.get("new")):
                if isinstance(side, list):
                    wanted.setdefault(_key(c), set()).update(v for v in side if isinstance(v, int))
    found: dict[str, dict[int, str]] = {}
    for key, ids in wanted.items():
        f = rt.field_by_key(key)
        if f is None or f.type.name != "relation" or not ids:
            continue
        try:
            target = record_types.get_type(runtime, acc, f.config["target"])
        except NotFound:
            continue
        found[key] = record_labels.labels(runtime, acc, target, ids)
    return found
