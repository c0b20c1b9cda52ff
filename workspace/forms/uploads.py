"""Files sent with a public form: read once, checked, kept as facts, attached last.

Each chosen file is read once when the post arrives, for its size, SHA-256 and content type
sniffed from its bytes (the type the browser declares is ignored), so the stored submission
says what came with it without holding any bytes. The checks (required, how many, which kind,
how large) run with the other fields' checks, and the files are attached to the record, as
the member the form writes as, only after the submission created or updated it: a refused,
spam, rate-limited, invalid or replayed post never leaves a file anywhere. An edit link
adds files to its record the same way (never removes one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workspace.errors import WorkspaceError
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
    """What attaching a submission's files came to: notes for the team, and whether the
    file storage failed (the record is written; the submitter is told to send them again)."""

    count: int = 0
    notes: list[str] = field(default_factory=list)
    failed: bool = False


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


def attach(
    runtime: Runtime, live: Live, record_id: int, chosen: Chosen, *, updated: bool
) -> Attached:
    """Attach the files to the record the submission wrote, field by field. On a record on
    file (``updated``) a field never overwritten from this form gets none, and under the
    "fill only empty fields" policy a field that has files already gets none either."""
    done = Attached()
    for p in live.shown:
        scanned = chosen.get(p.key)
        if not p.is_file or not scanned:
            continue
        why_not = _kept_out(runtime, live, record_id, p) if updated else None
        if why_not is not None:
            done.notes.append(f"{p.spec.label}: {len(scanned)} file(s) not attached, {why_not}")
            continue
        try:
            added = files.upload_scanned(
                runtime, live.acc, live.rt, record_id, scanned, field_key=p.key
            )
        except WorkspaceError as exc:
            done.failed = True
            done.notes.append(f"{p.spec.label}: the files could not be stored: {exc.message}")
            continue
        done.count += len(added)
    return done


def _kept_out(runtime: Runtime, live: Live, record_id: int, p: Placed) -> str | None:
    if p.spec.protect:
        return "the field is never overwritten from this form"
    if live.form.config.policy == "fill_empty":
        on_file = files.list_files(runtime, live.acc, live.rt, record_id)
        if any(f["field"] == p.field.id for f in on_file):
            return "the record on file has files there and the form fills only empty fields"
    return None


def _names(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
