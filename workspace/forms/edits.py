"""Self-service edit links: a customer updates their own record through the form.

The link (``/f/<slug>/edit/<token>``) is signed with the server key, expires, and names a
submission by its random reference, never a record id. It shows and changes only the
fields the form shows, minus those never overwritten from this form; a file field there
shows the files the record has and takes more (it never removes one). A record merged since
is followed to its survivor. Each save is stored like any submission (kind ``edit``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from workspace.errors import (
    Conflict,
    Merged,
    NotFound,
    Unavailable,
    ValidationFailed,
    WorkspaceError,
)
from workspace.files.files import Incoming
from workspace.forms import forms, submissions, tokens
from workspace.forms import uploads as form_files
from workspace.forms.config import Placed
from workspace.forms.forms import FormRow, Live
from workspace.forms.intake import (
    BUSY,
    CHECK,
    REFUSED,
    UNAVAILABLE,
    Answer,
    Page,
    Reader,
    Writing,
    blank_value,
    busy,
    friendly,
    settle,
    turned_away,
)
from workspace.forms.tokens import LinkError
from workspace.forms.uploads import Chosen
from workspace.principal import Access
from workspace.records import records
from workspace.runtime import Runtime

SAVED = "Your changes were saved. Thank you!"
LINK_MESSAGES = {
    "expired": "This edit link has expired. Please fill in the form again, or ask us for a new "
    "link.",
    "invalid": "This edit link does not work. Please check that you copied all of it.",
    "gone": "There is nothing to edit at this link any more.",
}
MERGE_HOPS = 5


def editable(live: Live) -> list[Placed]:
    """What an edit link may change: the shown fields not protected by the form."""
    return [p for p in live.shown if not p.spec.protect]


def link_for(runtime: Runtime, acc: Access, form_id: int, submission_id: int) -> str:
    """An edit link for the record a submission created or updated, for the team to send
    to the customer (``/f/<slug>/edit/<token>``)."""
    acc.require("member")
    form = forms.get_form(runtime, acc, form_id)
    sub = submissions.get(runtime, submission_id)
    if sub["form_id"] != form_id or sub["record_id"] is None:
        raise NotFound("this submission has no record to edit")
    return f"/f/{form['slug']}/edit/{tokens.edit_token(runtime, form_id, sub['ref'])}"


def open_edit(runtime: Runtime, slug: str, token: str) -> Page:
    """The form filled with the record's current values (raises LinkError; the page's
    ``live`` is None when the form cannot take edits now)."""
    form = forms.by_slug(runtime, slug)
    live = forms.live(runtime, form)
    record_id = _target(runtime, form, token)
    if live is None or not form.is_open:
        return Page(form, None, token)
    fields = _current(runtime, live, record_id)["fields"]
    values = {p.key: fields.get(p.key) for p in editable(live)}
    return Page(form, live, token, values)


def save_edit(
    runtime: Runtime,
    slug: str,
    token: str,
    raw: Mapping[str, Any],
    address: str,
    read: Reader,
    uploads: Mapping[str, Sequence[Incoming]] | None = None,
) -> Answer:
    """Store and apply one post of an edit link (``uploads``: files to add, by field key)."""
    form = forms.by_slug(runtime, slug)
    hashed = submissions.ip_hash(runtime, address)
    unprotected = frozenset(f.key for f in form.config.fields if not f.protect)
    chosen = form_files.read(form.config, uploads or {}, unprotected)
    sub_id, _ = submissions.store_received(
        runtime, form.id, "edit", hashed, raw, form_files.facts(chosen)
    )
    try:
        answer = _save(runtime, form, token, raw, hashed, read, chosen, sub_id)
    except Unavailable as exc:
        answer = busy(exc)
    return settle(runtime, sub_id, answer)


def _save(
    runtime: Runtime,
    form: FormRow,
    token: str,
    raw: Mapping[str, Any],
    hashed: str,
    read: Reader,
    chosen: Chosen,
    sub_id: int,
) -> Answer:
    live = forms.live(runtime, form)
    refused = turned_away(runtime, form, live, raw, hashed)
    if refused is not None:
        return refused
    assert live is not None  # turned away otherwise
    try:
        record_id = _current(runtime, live, _target(runtime, form, token))["id"]
    except LinkError as exc:
        status = 410 if exc.kind in {"expired", "gone"} else 404
        return Answer(
            "link", "rejected", status, LINK_MESSAGES[exc.kind], reason=f"{exc.kind} link"
        )
    values, errors = _values(live, raw, read)
    max_bytes = runtime.settings.max_file_bytes
    file_errors, too_big = form_files.problems(editable(live), chosen, max_bytes, adding=True)
    if errors or file_errors:
        errors = {**errors, **file_errors}
        status = 413 if too_big else 422
        return _again(live, token, values, errors, CHECK, status, record_id, chosen, "invalid")
    writing = Writing(runtime, live, chosen, sub_id, editing=True)
    try:
        with writing.staged():
            records.update_record(runtime, live.acc, live.rt, record_id, values, after=writing)
    except ValidationFailed as exc:
        shown = friendly(editable(live), exc.fields)
        message = CHECK if shown else UNAVAILABLE
        return _again(live, token, values, shown, message, 422, record_id, chosen, exc.message)
    except Conflict as exc:  # e.g. an email another record holds: said neutrally
        return Answer("refused", "refused", 200, REFUSED, record_id=record_id, reason=exc.message)
    except Unavailable as exc:
        sent = _again(live, token, values, {}, BUSY, 503, record_id, chosen, exc.message)
        return busy(exc, sent.page)
    except WorkspaceError as exc:
        return Answer("unavailable", "rejected", 503, UNAVAILABLE, reason=exc.message)
    return Answer(
        "done",
        "updated",
        200,
        SAVED,
        edit_token=token,
        record_id=writing.record_id,
        reason=writing.reason,
        decided=True,
    )


def _values(
    live: Live, raw: Mapping[str, Any], read: Reader
) -> tuple[dict[str, Any], dict[str, str]]:
    """Every editable field as posted: here a blank input clears the value."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for p in editable(live):
        if p.is_file:  # files only add up (form_files)
            continue
        value = read(p.field, raw)
        if blank_value(value) and p.spec.required:
            errors[p.key] = friendly([p], {p.key: "is required"})[p.key]
        values[p.key] = None if value in ("", []) else value
    return values, errors


def _again(
    live: Live,
    token: str,
    values: dict[str, Any],
    errors: dict[str, str],
    message: str,
    status: int,
    record_id: int,
    chosen: Chosen,
    reason: str,
) -> Answer:
    notes = form_files.again_notes(live, chosen, errors)
    page = Page(live.form, live, token, values, errors, message, notes)
    return Answer(
        "form", "rejected", status, message, page=page, record_id=record_id, reason=reason
    )


def _target(runtime: Runtime, form: FormRow, token: str) -> int:
    """The record an edit link points at (as the submission recorded it)."""
    ref = tokens.read_edit_token(runtime, form.id, token)
    sub = submissions.by_ref(runtime, form.id, ref)
    if sub is None or sub["record_id"] is None:
        raise LinkError("invalid")
    return int(sub["record_id"])


def _current(runtime: Runtime, live: Live, record_id: int) -> dict[str, Any]:
    """The record now, following merges to the survivor; LinkError("gone") if deleted."""
    for _ in range(MERGE_HOPS):
        try:
            return records.get(runtime, live.acc, live.rt, record_id)
        except Merged as merged:
            record_id = merged.survivor_id
        except NotFound:
            break
    raise LinkError("gone")
