"""Files sent with a public form: read once, checked, kept as facts, attached last.

Each chosen file is read once when the post arrives, for its size, SHA-256 and content type
sniffed from its bytes (the type the browser declares is ignored), so the stored submission
says what came with it without holding any bytes. The checks (required, how many, which kind,
how large) run with the other fields' checks. Once they pass, the bytes are staged in the
file storage (:func:`stage`), and the files are attached to the record, as the member the
form writes as, in the transaction that writes the record (:func:`attach`): a record is
never written without its files, nor files without their record. A refused, spam,
rate-limited, invalid or replayed post never leaves a file anywhere (bytes staged for a post
that then did not write are removed again, :func:`discard`). An edit link adds files to its
record the same way (never removes one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from workspace.files import files
from workspace.files.content import Scanned, human_size, scan
from workspace.files.files import Incoming
from workspace.forms.config import FormConfig, Placed
from workspace.forms.file_kinds import kind_allows
from workspace.forms.forms import Live
from workspace.runtime import Runtime

#: What a field that refused a file's kind asks for instead.
KIND_WORDS = {
    "images": ("an image", "a photo or picture (JPEG, PNG, GIF, WebP or HEIC)"),
    "documents": ("a document", "a PDF, an office document or a text file"),
}
#: File facts kept per field in a stored submission (a post may carry more; they are counted).
FACTS_KEPT = 20

Chosen = dict[str, list[Scanned]]


@dataclass
class Attached:
    """What attaching a submission's files came to: how many, notes for the team, and the
    hashes of the files attached."""

    count: int = 0
    notes: list[str] = field(default_factory=list)
    hashes: set[str] = field(default_factory=set)


def file_keys(config: FormConfig) -> frozenset[str]:
    """The keys of the form's file fields (only a file field stores a file limit)."""
    return frozenset(f.key for f in config.fields if f.max_files is not None and not f.hidden)


def files_allowed(config: FormConfig) -> int:
    """How many files one post to the form may carry in all."""
    return sum(f.max_files or 0 for f in config.fields if f.key in file_keys(config))


def read(
    config: FormConfig,
    uploads: Mapping[str, Sequence[Incoming]],
    only: frozenset[str] | None = None,
) -> Chosen:
    """The files sent for the form's file fields (or those of them in ``only``), each read
    once; files sent under any other name are ignored: nothing not asked for is kept."""
    keys = file_keys(config) if only is None else file_keys(config) & only
    return {
        key: [scan(item.name, item.file) for item in items]
        for key, items in uploads.items()
        if key in keys and items
    }


def facts(chosen: Chosen) -> dict[str, Any]:
    """What the stored submission keeps of the files: name, size, sniffed type, SHA-256."""
    kept: dict[str, Any] = {}
    for key, scanned in chosen.items():
        kept[key] = [
            {"name": s.name, "size": s.size, "content_type": s.content_type, "sha256": s.sha256}
            for s in scanned[:FACTS_KEPT]
        ]
        if len(scanned) > FACTS_KEPT:
            kept[f"_{key}_files_not_listed"] = len(scanned) - FACTS_KEPT
    return kept


def problems(
    places: Sequence[Placed], chosen: Chosen, max_file_bytes: int, *, adding: bool = False
) -> tuple[dict[str, str], bool]:
    """Each file field's problem as a sentence for the submitter, and whether one was that
    a file is too large (answered with 413). ``adding`` files to a record on file (an edit
    link), a required field needs none: the record has its files."""
    errors: dict[str, str] = {}
    too_big = False
    for p in places:
        if not p.is_file:
            continue
        scanned = chosen.get(p.key, [])
        if adding and not scanned:
            continue
        reason = _problem(p, scanned, max_file_bytes)
        if reason is not None:
            errors[p.key] = reason
            too_big = too_big or any(s.size > max_file_bytes for s in scanned)
    return errors, too_big


def _problem(p: Placed, scanned: list[Scanned], max_file_bytes: int) -> str | None:
    if not scanned:
        return "Please choose a file." if p.spec.required else None
    if len(scanned) > p.max_files:
        many = "one file" if p.max_files == 1 else f"at most {p.max_files} files"
        return f"{p.spec.label}: please choose {many}."
    kinds = p.spec.kinds or "any"
    wrong = [s.name for s in scanned if not kind_allows(kinds, s.content_type)]
    if wrong:
        one, wanted = KIND_WORDS[kinds]
        what = f"is not {one}" if len(wrong) == 1 else f"are not {kinds}"
        return f"{_names(wrong)} {what}. Please choose {wanted}."
    large = [s.name for s in scanned if s.size > max_file_bytes]
    if large:
        limit = human_size(max_file_bytes)
        return f"{_names(large)} is larger than {limit}. Please choose a smaller file."
    return None


def again_notes(live: Live, chosen: Chosen, errors: Mapping[str, str]) -> dict[str, str]:
    """A page sent back cannot keep the files chosen (no browser allows it): say so under
    each file field whose files were fine, so they are chosen again."""
    return {
        p.key: f"You chose {_names([s.name for s in chosen[p.key]])}: please choose it again."
        for p in live.shown
        if p.is_file and chosen.get(p.key) and p.key not in errors
    }


def stage(runtime: Runtime, live: Live, chosen: Chosen) -> None:
    """Put the bytes of the files sent for the form's shown file fields in the file storage
    before the record is written (503 from a failing storage, with nothing written)."""
    files.stage(runtime, live.acc.workspace_id, _sent(live, chosen))


def discard(runtime: Runtime, live: Live, chosen: Chosen, attached: Attached | None) -> None:
    """Remove the staged bytes of the files that were not attached (the post wrote nothing,
    or the form kept them out of the record on file)."""
    kept = attached.hashes if attached is not None else set()
    left = [s.sha256 for s in _sent(live, chosen) if s.sha256 not in kept]
    if left:
        files.discard(runtime, live.acc.workspace_id, left)


def _sent(live: Live, chosen: Chosen) -> list[Scanned]:
    return [s for p in live.shown if p.is_file for s in chosen.get(p.key, [])]


def attach(
    conn: Connection, runtime: Runtime, live: Live, record_id: int, chosen: Chosen, *, updated: bool
) -> Attached:
    """In the transaction that wrote the record: attach the staged files to it, field by
    field. On a record on file (``updated``) a field never overwritten from this form gets
    none, and under the "fill only empty fields" policy a field that has files already gets
    none either."""
    done = Attached()
    for p in live.shown:
        scanned = chosen.get(p.key)
        if not p.is_file or not scanned:
            continue
        why_not = _kept_out(conn, live, record_id, p) if updated else None
        if why_not is not None:
            done.notes.append(f"{p.spec.label}: {len(scanned)} file(s) not attached, {why_not}")
            continue
        added = files.attach_staged(
            conn, runtime, live.acc, live.rt, record_id, p.field.id, scanned
        )
        done.count += len(added)
        done.hashes.update(s.sha256 for s in scanned)
    return done


def _kept_out(conn: Connection, live: Live, record_id: int, p: Placed) -> str | None:
    if p.spec.protect:
        return "the field is never overwritten from this form"
    if live.form.config.policy == "fill_empty" and files.has_files(
        conn, live.rt.id, record_id, p.field.id
    ):
        return "the record on file has files there and the form fills only empty fields"
    return None


def _names(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
