"""Taking in a post to a public form: store it, check it, write it, say what to show.

Order matters. The post is stored as received before anything else (nothing is lost); then
a closed form, an unusable form, an oversized post and an address over the rate limit are
turned away; a filled honeypot is kept as spam and answered like a success (bots learn
nothing); the one-time token makes a double click or a replay count once; and only then do
the form's fields (never others) go to ``records.create`` with the form's duplicate policy,
written as the form's maker with the activity naming the form. Files sent with the post are
read first (their facts are stored with it) and attached only once the record is written
(see ``form_files``).

What the submitter sees never holds an internal id or another record's data: a duplicate
the policy refuses gets a neutral message, not "this email already exists".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workspace.errors import Conflict, Unavailable, ValidationFailed, WorkspaceError
from workspace.files.files import Incoming
from workspace.forms import forms, tokens
from workspace.forms import submissions as form_submissions
from workspace.forms import uploads as form_files
from workspace.forms.config import Placed, redirect_allowed
from workspace.forms.forms import FormRow, Live
from workspace.forms.uploads import Chosen
from workspace.records import records
from workspace.runtime import Runtime
from workspace.schema.fields import FieldDef, ValueContext
from workspace.schema.record_values import parse_values

#: Turns one field's inputs of a posted HTML form into an API value (web.fields.field_value).
Reader = Callable[[FieldDef, Mapping[str, Any]], Any]
#: The honeypot: an input people never see (hidden by forms.css) and bots fill in. Not a
#: valid field key, so it can never clash with one.
HONEYPOT = "website-address"
REFUSED = (
    "Thank you. We could not take this submission online; please get in touch with us directly."
)
CLOSED = "This form is closed and no longer takes submissions."
UNAVAILABLE = "This form cannot take submissions at the moment. Please try again later."
LIMITED = "Too many submissions came from your network in the last hour. Please try later."
EXPIRED = "This page was open for a long time. Please check your details and send it again."
TOO_LARGE = "That is more than this form can take. Please shorten your answers."
FILES_TOO_LARGE = "That is more than this form can take. Please choose smaller or fewer files."
FILES_NOT_STORED = (
    "We could not store the files you chose just now; please send them to us another way."
)
BUSY = "We are busy for a moment. Please send the form again."
CHECK = "Please check the fields marked below."
RECEIVED = "Thank you. We have received this submission."
#: How long a replayed post waits for the first one to be decided.
REPLAY_WAIT_SECONDS = 5.0


@dataclass
class Page:
    """A form ready to render: the values to show (by field key) and errors to show."""

    form: FormRow
    live: Live | None
    token: str
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    message: str = ""
    #: Under a file field: its files must be chosen again (a page sent back cannot keep them).
    notes: dict[str, str] = field(default_factory=dict)


@dataclass
class Answer:
    """What to show the submitter (``view``: done, refused, form, closed, unavailable,
    limited) and what to store (``outcome``, ``record_id`` and ``reason`` are for the
    team only: never put them on the submitter's page)."""

    view: str
    outcome: str
    status_code: int = 200
    message: str = ""
    redirect: str | None = None
    edit_token: str | None = None
    page: Page | None = None
    record_id: int | None = None
    reason: str | None = None
    submission_id: int = 0


def blank(runtime: Runtime, slug: str, query: Mapping[str, str], read: Reader) -> Page:
    """A form to fill in, pre-filled from the query string where the form says so."""
    form = forms.by_slug(runtime, slug)
    live = forms.live(runtime, form)
    values = prefilled(live, query, read) if live is not None else {}
    return Page(form, live, tokens.issue(runtime, form.id), values)


def prefilled(live: Live, query: Mapping[str, str], read: Reader) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for p in live.placed:
        given = query.get(p.spec.prefill) if p.spec.prefill else None
        if not given or _fixed(p):
            continue
        text = str(given)[:1000]
        values[p.key] = (
            text if p.spec.hidden else read(p.field, {p.key: text, p.key + ".amount": text})
        )
    return values


def submit(
    runtime: Runtime,
    slug: str,
    raw: Mapping[str, Any],
    address: str,
    read: Reader,
    uploads: Mapping[str, Sequence[Incoming]] | None = None,
) -> Answer:
    """Store and take in one post to ``/f/<slug>``; ``uploads`` are the files sent, by the
    name of their input (a file field's key)."""
    form = forms.by_slug(runtime, slug)
    hashed = form_submissions.ip_hash(runtime, address)
    chosen = form_files.read(form.config, uploads or {})
    sub_id, ref = form_submissions.store_received(
        runtime, form.id, "submit", hashed, raw, form_files.facts(chosen)
    )
    answer = _take(runtime, form, raw, hashed, read, sub_id, ref, chosen)
    form_submissions.decide(
        runtime, sub_id, answer.outcome, record_id=answer.record_id, reason=answer.reason
    )
    answer.submission_id = sub_id
    return answer


def most_files(runtime: Runtime, slug: str) -> int:
    """How many files in all one post to ``/f/<slug>`` may carry (0: the form takes none,
    or there is no such form, which the post then finds out)."""
    try:
        return form_files.files_allowed(forms.by_slug(runtime, slug).config)
    except WorkspaceError:
        return 0


def oversized(runtime: Runtime, slug: str, kind: str, address: str, limit: int) -> None:
    """Keep a post (``kind`` submit or edit) refused unread: its body is larger than the
    form takes."""
    try:
        form = forms.by_slug(runtime, slug)
    except WorkspaceError:
        return
    hashed = form_submissions.ip_hash(runtime, address)
    sub_id, _ = form_submissions.store_received(runtime, form.id, kind, hashed, {})
    reason = f"the post was too large: more than the {limit} bytes this form takes"
    form_submissions.decide(runtime, sub_id, "rejected", reason=reason)


def turned_away(
    runtime: Runtime, form: FormRow, live: Live | None, raw: Mapping[str, Any], hashed: str
) -> Answer | None:
    """Closed, unusable, too large or over the rate limit (shared with edit links)."""
    if not form.is_open:
        return Answer("closed", "rejected", 403, CLOSED, reason="the form is closed")
    if live is None:
        reason = "the form cannot write: its record type is gone, its maker cannot write records"
        return Answer("unavailable", "rejected", 503, UNAVAILABLE, reason=reason + " or no field")
    if form_submissions.too_large(raw):
        return Answer("unavailable", "rejected", 413, TOO_LARGE, reason="the post was too large")
    limit = runtime.settings.form_rate_limit
    if limit and form_submissions.recent_count(runtime, hashed) > limit:
        reason = f"rate limit: more than {limit} posts from this address in an hour"
        return Answer("limited", "rejected", 429, LIMITED, reason=reason)
    return None


def _take(
    runtime: Runtime,
    form: FormRow,
    raw: Mapping[str, Any],
    hashed: str,
    read: Reader,
    sub_id: int,
    ref: str,
    chosen: Chosen,
) -> Answer:
    live = forms.live(runtime, form)
    refused = turned_away(runtime, form, live, raw, hashed)
    if refused is not None:
        return refused
    assert live is not None  # turned away otherwise
    if text_of(raw.get(HONEYPOT)):
        return done(runtime, live, "spam", reason="the hidden honeypot field was filled")
    token = text_of(raw.get("_form_token"))
    state = tokens.check(runtime, form.id, token)
    if state != "ok":
        reason = f"{state} form token"
        return again(runtime, live, raw, read, EXPIRED, 400, reason=reason, chosen=chosen)
    first = tokens.claim(runtime, form.id, token, sub_id)
    if first is not None:
        return _replay(runtime, live, first, raw, read)
    answer = _write(runtime, live, raw, read, ref, chosen)
    if answer.outcome == "rejected":
        tokens.release(runtime, token)
    return answer


def _write(
    runtime: Runtime, live: Live, raw: Mapping[str, Any], read: Reader, ref: str, chosen: Chosen
) -> Answer:
    values, errors = values_of(live, raw, read)
    max_bytes = runtime.settings.max_file_bytes
    file_errors, too_big = form_files.problems(live.shown, chosen, max_bytes)
    if errors or file_errors:  # say everything at once: also what is wrong with the rest
        parsed = parse_values(live.rt, values, ValueContext(live.acc.phone_region), partial=True)
        errors = {**friendly(live.shown, parsed.errors), **errors, **file_errors}
        reason = ("a file was too large; " if too_big else "") + _listed(live, errors)
        status = 413 if too_big else 422
        return again(runtime, live, raw, read, CHECK, status, errors, reason=reason, chosen=chosen)
    try:
        record = records.create(
            runtime, live.acc, live.rt, values, override=live.form.config.override()
        )
    except ValidationFailed as exc:
        shown = friendly(live.shown, exc.fields)
        message = CHECK if shown else UNAVAILABLE
        return again(
            runtime, live, raw, read, message, 422, shown, reason=exc.message, chosen=chosen
        )
    except Conflict as exc:  # a duplicate the policy refuses, or a unique value in use
        return Answer("refused", "refused", 200, REFUSED, reason=exc.message)
    except Unavailable as exc:
        return again(runtime, live, raw, read, BUSY, 503, reason=exc.message, chosen=chosen)
    except WorkspaceError as exc:  # the form's maker lost access meanwhile
        return Answer("unavailable", "rejected", 503, UNAVAILABLE, reason=exc.message)
    return _written(runtime, live, record, chosen, ref)


def _written(
    runtime: Runtime, live: Live, record: Mapping[str, Any], chosen: Chosen, ref: str
) -> Answer:
    """The record is written: attach the files, then the success answer."""
    if "merged_into" in record:
        record_id = record["merged_into"]
        attached = form_files.attach(runtime, live, record_id, chosen, updated=True)
        reasons = ["matched a record on file and updated it", *attached.notes]
        answer = done(runtime, live, "updated", record_id=record_id, reason="; ".join(reasons))
    else:
        attached = form_files.attach(runtime, live, record["id"], chosen, updated=False)
        duplicates = ", ".join(str(d["record"]) for d in record.get("duplicates") or [])
        queued = [f"possible duplicate of record {duplicates} queued for review"]
        reasons = [*(queued if duplicates else []), *attached.notes]
        why = "; ".join(reasons) or None
        answer = done(runtime, live, "created", record_id=record["id"], reason=why, ref=ref)
    if attached.failed:
        answer.message = f"{answer.message} {FILES_NOT_STORED}"
        answer.redirect = None  # the submitter must read this
    return answer


def values_of(
    live: Live, raw: Mapping[str, Any], read: Reader
) -> tuple[dict[str, Any], dict[str, str]]:
    """The form's fields only: what was filled in, hidden prefills as posted, fixed values
    from the form. A blank input is "not given" (it never clears a record on file)."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for p in live.placed:
        if _fixed(p):
            values[p.key] = p.spec.value
            continue
        if p.is_file:  # its files come separately (form_files)
            continue
        value = read(p.field, raw)
        if blank_value(value):
            if p.spec.required:
                errors[p.key] = _required(p)
            continue
        values[p.key] = value
    return values, errors


def done(
    runtime: Runtime,
    live: Live,
    outcome: str,
    *,
    record_id: int | None = None,
    reason: str | None = None,
    ref: str | None = None,
) -> Answer:
    """The success answer. The edit link goes only to whoever created the record (``ref``
    given): after a merge it would open someone else's record to whoever typed their email."""
    config = live.form.config
    hosts = runtime.settings.form_redirect_host_set
    redirect = config.redirect_url if redirect_allowed(config.redirect_url, hosts) else None
    token = tokens.edit_token(runtime, live.form.id, ref) if ref and config.edit_link else None
    return Answer(
        "done",
        outcome,
        200,
        config.success_message,
        redirect=redirect,
        edit_token=token,
        record_id=record_id,
        reason=reason,
    )


def again(
    runtime: Runtime,
    live: Live,
    raw: Mapping[str, Any],
    read: Reader,
    message: str,
    status: int,
    errors: dict[str, str] | None = None,
    *,
    reason: str,
    chosen: Chosen | None = None,
) -> Answer:
    """The form once more, with what was typed, the errors and a fresh token (and a note
    to choose again the files that were fine)."""
    page = Page(
        live.form,
        live,
        tokens.issue(runtime, live.form.id),
        typed(live, raw, read),
        errors or {},
        message,
        form_files.again_notes(live, chosen or {}, errors or {}),
    )
    return Answer("form", "rejected", status, message, page=page, reason=reason)


def typed(live: Live, raw: Mapping[str, Any], read: Reader) -> dict[str, Any]:
    """What was posted, to show again: inputs as read, hidden prefills as the text sent."""
    return {
        p.key: text_of(raw.get(p.key)) if p.spec.hidden else read(p.field, raw)
        for p in live.placed
        if not _fixed(p) and not p.is_file
    }


def friendly(shown: list[Placed], reasons: Mapping[str, str]) -> dict[str, str]:
    """Field errors as sentences naming the form's label; only for fields the form shows
    (a reason about anything else is for the team, not the submitter)."""
    found = {}
    for p in shown:
        reason = reasons.get(p.key)
        if reason is not None:
            sentence = f"{p.spec.label} {reason}".rstrip()
            ends = sentence.endswith((".", "!", "?"))
            found[p.key] = (
                _required(p) if reason == "is required" else sentence + ("" if ends else ".")
            )
    return found


def _replay(
    runtime: Runtime, live: Live, first_id: int, raw: Mapping[str, Any], read: Reader
) -> Answer:
    """Answer as the first post with this token was answered (waiting for it if it is
    still being decided), and count this one as a replay."""
    deadline = time.monotonic() + REPLAY_WAIT_SECONDS
    first = form_submissions.get(runtime, first_id)
    while first["outcome"] == "received" and time.monotonic() < deadline:
        time.sleep(0.1)
        first = form_submissions.get(runtime, first_id)
    reason = f"the same post as submission {first_id}"
    outcome = first["outcome"]
    if outcome in {"created", "updated"}:
        ref = first["ref"] if outcome == "created" else None
        return done(runtime, live, "replay", record_id=first["record_id"], reason=reason, ref=ref)
    if outcome == "refused":
        return Answer("refused", "replay", 200, REFUSED, reason=reason)
    if outcome == "received":
        return Answer("done", "replay", 200, RECEIVED, reason=reason)
    answer = again(runtime, live, raw, read, CHECK, 422, reason=reason)
    answer.outcome = "replay"
    return answer


def _fixed(p: Placed) -> bool:
    return p.spec.hidden and p.spec.value is not None


def _required(p: Placed) -> str:
    if p.field.type.name == "checkbox":
        return "Please tick this box."
    return "Please fill this in."


def _listed(live: Live, errors: Mapping[str, str]) -> str:
    labels = {p.key: p.spec.label for p in live.placed}
    return "; ".join(f"{labels.get(k, k)}: {v}" for k, v in errors.items())


def blank_value(value: Any) -> bool:
    return value is None or value is False or value == "" or value == []


def text_of(raw: Any) -> str:
    """The last value of a posted key as text ("" when absent)."""
    if isinstance(raw, list):
        raw = raw[-1] if raw else None
    return "" if raw is None else str(raw).strip()
