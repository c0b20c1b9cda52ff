"""The workspace home's activity feed as people read it.

The history stores field keys, system keys (``merged_into``) and a source with a reference
(``import`` / ``customers.csv``, ``automation:7``); this turns them into field names, words
and named, linked sources, and folds the entries of one import, one bulk write or one
automation's run into one line, so a 26-row import is one line and not 26.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workspace import activity
from workspace.automations import automations
from workspace.connectors import connections
from workspace.forms import forms
from workspace.imports import imports
from workspace.principal import Access
from workspace.records import labels as record_labels
from workspace.records.pages.record_timeline import SOURCES, actor_name
from workspace.runtime import Runtime
from workspace.schema.tables import RecordTypeDef

#: Lines on the home page; entries are read further back so grouped lines are whole.
LINES = 20
READ = activity.PAGE_MAX
#: Sources whose consecutive entries are one piece of work even across write batches.
RUN_SOURCES = {"import", "automation", "connector"}
#: Actions whose entries fold into one line when one piece of work made them.
GROUPED = {"create", "update", "delete", "restore"}
#: System keys of the history, in words (the record they point at follows).
SYSTEM_KEYS = {"merged_into": "merged into", "merged_record": "merged in"}
VERBS = {
    "create": "created",
    "update": "changed",
    "delete": "deleted",
    "restore": "restored",
    "merge": "merged",
    "convert": "changed a field's settings, which cleared a value on",
    "comment_added": "commented on",
    "comment_edited": "edited a comment on",
    "comment_deleted": "deleted a comment on",
    "task_added": "added a task on",
    "task_changed": "changed a task on",
    "file_added": "added a file to",
    "file_deleted": "deleted a file of",
    "file_restored": "restored a file of",
    "file_damaged": "found a damaged file on",
    "files_detached": "kept the files of a deleted field as attachments on",
    "remote_deleted": "was told a connected tool deleted its copy of",
}


@dataclass(frozen=True)
class Link:
    text: str
    href: str | None = None
    #: What the source is called on its own ("customers.csv"), where the text says more.
    name: str = ""


@dataclass
class Line:
    """One line of the feed: one entry, or a group of entries of one piece of work."""

    actor: str
    verb: str
    record: Link | None
    source: Link
    at: dt.datetime
    fields: list[str] = field(default_factory=list)
    #: What a storage entry changed, in words.
    detail: str = ""
    #: System changes in words, each with the record it points at.
    notes: list[tuple[str, Link]] = field(default_factory=list)
    #: A group's entries (empty for a single entry).
    members: list[Line] = field(default_factory=list)


@dataclass(frozen=True)
class Names:
    """What the feed resolves references with."""

    ws_id: int
    types: Mapping[int, RecordTypeDef]
    people: Mapping[int, str]
    sources: Mapping[tuple[str, str], Link]
    titles: Mapping[tuple[int, int], str]


def feed(
    runtime: Runtime,
    acc: Access,
    types: Mapping[int, RecordTypeDef],
    people: Mapping[int, str],
) -> list[Line]:
    """The latest lines of the workspace's activity, newest first."""
    page = activity.for_workspace(runtime, acc, limit=READ)
    items = page["items"]
    names = Names(
        ws_id=acc.workspace_id,
        types=types,
        people=people,
        sources=_sources(runtime, acc, types, items),
        titles=_titles(runtime, acc, types, items),
    )
    lines = _grouped(items, names)
    if page["next_before"] is not None and lines and lines[-1].members:
        lines[-1].verb = lines[-1].verb.replace(" ", " at least ", 1)  # older entries unread
    return lines[:LINES]


def local_text(at: dt.datetime, zone: dt.tzinfo) -> str:
    """``2026-12-08 09:15 Europe/Berlin``: the time in ``zone``, naming the zone."""
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M ") + str(zone)


def utc_iso(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _grouped(items: Sequence[Mapping[str, Any]], names: Names) -> list[Line]:
    lines: list[Line] = []
    last_key: tuple[Any, ...] | None = None
    for item in items:
        key = _work_key(item)
        line = _line(item, names)
        if key is not None and key == last_key:
            group = lines[-1]
            if not group.members:
                lines[-1] = group = _group_of(group)
            group.members.append(line)
        else:
            lines.append(line)
        last_key = key
    for line in lines:
        if line.members:
            line.verb = _group_verb(line)
    return lines


def _work_key(item: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """Entries with the same key, one after the other, are one piece of work: one import
    (its batches), one automation or connector run, or one bulk write (one instant)."""
    if item["action"] not in GROUPED:  # a comment, a task, a merge: each its own line
        return None
    base = (item["actor"], item["source"], item["source_ref"], item["record_type"])
    if item["source"] == "import":
        return base
    if item["source"] in RUN_SOURCES:
        return (*base, item["action"])
    return (*base, item["action"], item["at"])


def _group_of(first: Line) -> Line:
    return Line(
        actor=first.actor,
        verb="",
        record=None,
        source=first.source,
        at=first.at,
        members=[first],
    )


def _group_verb(group: Line) -> str:
    count = len(group.members)
    kind = group.members[0].record.text.rsplit(" #", 1)[0] if group.members[0].record else ""
    what = f"{count} {kind} records".replace("  ", " ")
    if group.source.name:
        return f"imported {what} from"
    return f"{group.members[0].verb} {what}"


def _line(item: Mapping[str, Any], names: Names) -> Line:
    rt = names.types.get(item["record_type"])
    ws = names.ws_id
    record = None
    fields: list[str] = []
    notes: list[tuple[str, Link]] = []
    detail = ""
    if item["record"] is None:  # a workspace setting: file storage, the data database
        label = "File" if item["action"] == "storage" else "changed the"
        detail = "; ".join(
            f"{label} {c.get('field')}: {c.get('new') or c.get('old') or ''}".rstrip(": ")
            for c in item["changes"] or []
        )
    else:
        type_name = rt.name if rt else "Record"
        href = f"/w/{ws}/t/{item['record_type']}/r/{item['record']}"
        record = Link(f"{type_name} #{item['record']}", href)
    for c in item["changes"] or []:
        key = str(c.get("field") or c.get("key") or "")
        if key in SYSTEM_KEYS and isinstance(c.get("new"), int):
            title = names.titles.get((item["record_type"], c["new"]))
            other = f"{title} #{c['new']}" if title else f"#{c['new']}"
            href = f"/w/{ws}/t/{item['record_type']}/r/{c['new']}"
            notes.append((SYSTEM_KEYS[key], Link(other, href)))
        elif record is not None and "_" not in item["action"]:
            fields.append(field_name(rt, key))
    action = item["action"]
    verb = VERBS.get(action, action.replace("_", " "))
    return Line(
        actor=actor_name(item["actor"], item["source"], names.people),
        verb=verb,
        record=record,
        source=names.sources.get((item["source"], item["source_ref"] or ""))
        or _plain_source(item["source"]),
        at=item["at"],
        fields=fields,
        detail=detail,
        notes=notes,
    )


def field_name(rt: RecordTypeDef | None, key: str) -> str:
    """A field's current name; a field no longer there by the name its key was made from
    (keys are made from the name the field was created with)."""
    found = rt.field_by_key(key) if rt is not None else None
    if found is not None:
        return found.name
    return key.replace("_", " ").strip().capitalize() or "a field"


def _plain_source(source: str) -> Link:
    """A source without a reference to name: the words the record's timeline uses."""
    return Link(SOURCES.get(source, f"via {source}"))


def _sources(
    runtime: Runtime,
    acc: Access,
    types: Mapping[int, RecordTypeDef],
    items: Sequence[Mapping[str, Any]],
) -> dict[tuple[str, str], Link]:
    """Each (source, source_ref) of ``items`` named: which file, form, automation or tool."""
    refs = {(i["source"], i["source_ref"]) for i in items if i["source_ref"]}
    found: dict[tuple[str, str], Link] = {}
    by_kind: dict[str, set[str]] = {}
    for source, ref in refs:
        by_kind.setdefault(source, set()).add(ref)
    ws = acc.workspace_id
    for ref, name in forms.names(runtime, acc, sorted(by_kind.get("form", ()))).items():
        form_id = ref.removeprefix("form:")
        found["form", ref] = Link(f"via form {name}", f"/w/{ws}/forms/{form_id}")
    autos = automations.names_for_refs(runtime, acc, by_kind.get("automation", set()))
    for ref, name in autos.items():
        auto_id = ref.removeprefix("automation:")
        found["automation", ref] = Link(f"via automation {name}", f"/w/{ws}/automations/{auto_id}")
    if by_kind.get("connector") and acc.can("admin"):
        for c in connections.list_connections(runtime, acc):
            found["connector", f"connection:{c['id']}"] = Link(f"via {c['name'] or c['kind']}")
    files = by_kind.get("import", set())
    for type_id in {i["record_type"] for i in items if i["source"] == "import"}:
        if type_id not in types:
            continue
        for name, import_id in imports.newest_by_name(runtime, acc, type_id, files).items():
            if ("import", name) not in found:
                href = f"/w/{ws}/t/{type_id}/imports/{import_id}"
                found["import", name] = Link(f"via import of {name}", href, name)
    for name in files:
        found.setdefault(("import", name), Link(f"via import of {name}", name=name))
    return found


def _titles(
    runtime: Runtime,
    acc: Access,
    types: Mapping[int, RecordTypeDef],
    items: Sequence[Mapping[str, Any]],
) -> dict[tuple[int, int], str]:
    """Titles of the records the system keys of ``items`` point at."""
    wanted: dict[int, set[int]] = {}
    for item in items:
        for c in item["changes"] or []:
            if c.get("field") in SYSTEM_KEYS and isinstance(c.get("new"), int):
                wanted.setdefault(item["record_type"], set()).add(c["new"])
    found: dict[tuple[int, int], str] = {}
    for type_id, ids in wanted.items():
        rt = types.get(type_id)
        if rt is None:
            continue
        for record_id, title in record_labels.labels(runtime, acc, rt, ids).items():
            found[type_id, record_id] = title
    return found
