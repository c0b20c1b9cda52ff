"""Taking in a post to a public form: store it, check it, write it, say what to show.

Order matters. The post is stored as received before anything else (nothing is lost); then
a closed form, an unusable form, an oversized post and an address over the rate limit are
turned away; a filled honeypot is kept as spam and answered like a success (bots learn
nothing); the one-time token makes a double click or a replay count once; and only then do
the form's fields (never others) go to ``records.create`` with the form's duplicate policy,
written as the form's maker with the activity naming the form. Files sent with the post are
read first (their facts are stored with it), staged in the file storage, and attached in
the transaction that writes the record, which also writes the submission's outcome
(:class:`Writing`): a post ends with its record, its files and its outcome, or with none of
them.

A post that cannot be taken now (the database went away, the file storage failed) is
answered 503 with Retry-After and kept as ``failed``; its one-time token stays claimed, and
sending the same page again takes the claim over (as does a resend that finds the first
post still undecided after :data:`REPLAY_WAIT_SECONDS`: the first one's write then finds its
outcome taken and rolls back).

What the submitter sees never holds an internal id or another record's data: a duplicate
the policy refuses gets a neutral message, not "this email already exists".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from workspace.db import Tx, transaction
from workspace.errors import Conflict, NotFound, Unavailable, ValidationFailed, WorkspaceError
from workspace.files.files import Incoming
from workspace.forms import forms, tokens
from workspace.forms import submissions as form_submissions
from workspace.forms import uploads as form_files
from workspace.forms.config import Placed, redirect_allowed
from workspace.forms.forms import FormRow, Live
from workspace.forms.submissions import GivenUp
from workspace.forms.uploads import Attached, Chosen
from workspace.records import records, restrictive
from workspace.records.write_items import Outcome
from workspace.runtime import Runtime
from workspace.schema.fields import FieldDef, ValueContext
from workspace.schema.record_values import parse_values

log = logging.getLogger(__name__)
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
BUSY = "We are busy for a moment. Please send the form again."
CHECK = "Please check the fields marked below."
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
    limited, busy) and what to store (``outcome``, ``record_id`` and ``reason`` are for the
    team only: never put them on the submitter's page). ``decided``: the outcome was
    written with the record; ``retry_after``: seconds to wait before sending again (503)."""

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
    decided: bool = False
    retry_after: int | None = None


@dataclass
class Post:
    """One post being taken: what was sent, and the submission that stores it."""

    live: Live
    raw: Mapping[str, Any]
    read: Reader
    chosen: Chosen
    submission_id: int
    ref: str
    token: str


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
    try:
        answer = _take(runtime, form, raw, hashed, read, sub_id, ref, chosen)
    except Unavailable as exc:
        answer = busy(exc)
    return settle(runtime, sub_id, answer)


def settle(runtime: Runtime, submission_id: int, answer: Answer) -> Answer:
    """Store the answer's outcome, unless it was written with the record. When the database
    is away even for that, the submission stays ``received`` for :func:`recover` and the
    sender gets 503 (the post may be sent again)."""
    answer.submission_id = submission_id
    if answer.decided:
        return answer
    try:
        form_submissions.decide(
            runtime,
            submission_id,
            answer.outcome,
            record_id=answer.record_id,
            reason=answer.reason,
        )
    except Unavailable as exc:
        log.warning("submission %s is left for the recovery pass: %s", submission_id, exc)
        if answer.outcome != "failed":
            return busy(exc, submission_id=submission_id)
    return answer


def busy(exc: Unavailable, page: Page | None = None, *, submission_id: int = 0) -> Answer:
    """503 with Retry-After: the post could not be taken now and is kept as ``failed``;
    with ``page``, the form is shown again as it was sent (with the same token)."""
    return Answer(
        "form" if page is not None else "busy",
        "failed",
        503,
        BUSY,
        page=page,
        reason=exc.message,
        submission_id=submission_id,
        retry_after=exc.retry_after,
    )


def most_files(runtime: Runtime, slug: str) -> int:
    """How many files in all one post to ``/f/<slug>`` may carry (0: the form takes none,
    or there is no such form, which the post then finds out)."""
    try:
        return form_files.files_allowed(forms.by_slug(runtime, slug).config)
    except NotFound:
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
    post = Post(live, raw, read, chosen, sub_id, ref, token)
    first = tokens.claim(runtime, form.id, token, sub_id)
    if first is not None:
        replayed = _replay(runtime, post, first)
        if replayed is not None:
            return replayed
    answer = _write(runtime, post)
    if answer.outcome == "rejected":
        tokens.release(runtime, token)
    return answer


def _write(runtime: Runtime, post: Post) -> Answer:
    live, raw, read, chosen = post.live, post.raw, post.read, post.chosen
    values, errors = values_of(live, raw, read)
    max_bytes = runtime.settings.max_file_bytes
    file_errors, too_big = form_files.problems(live.shown, chosen, max_bytes)
    if errors or file_errors:  # say everything at once: also what is wrong with the rest
        parsed = parse_values(live.rt, values, ValueContext(live.acc.phone_region), partial=True)
        errors = {**friendly(live.shown, parsed.errors), **errors, **file_errors}
        reason = ("a file was too large; " if too_big else "") + _listed(live, errors)
        status = 413 if too_big else 422
        return again(runtime, live, raw, read, CHECK, status, errors, reason=reason, chosen=chosen)
    writing = Writing(runtime, live, chosen, post.submission_id)
    try:
        with writing.staged():
            records.create(
                runtime,
                live.acc,
                live.rt,
                values,
                override=live.form.config.override(),
                after=writing,
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
        # The same token: sending the page again takes this post's claim over.
        sent = again(
            runtime, live, raw, read, BUSY, 503, reason="", chosen=chosen, token=post.token
        )
        return busy(exc, sent.page)
    except WorkspaceError as exc:  # the form's maker lost access meanwhile
        return Answer("unavailable", "rejected", 503, UNAVAILABLE, reason=exc.message)
    ref = post.ref if writing.outcome == "created" else None
    answer = done(
        runtime, live, writing.outcome, record_id=writing.record_id, reason=writing.reason, ref=ref
    )
    answer.decided = True
    return answer


@dataclass
class Writing:
    """What a post writes in its record's transaction (``records.create`` or
    ``update_record`` call it there): the files, attached to the record, and the
    submission's outcome. A submission given up meanwhile rolls the record back (GivenUp)."""

    runtime: Runtime
    live: Live
    chosen: Chosen
    submission_id: int
    #: An edit link's save: its files are added whatever the form's policy.
    editing: bool = False
    outcome: str = ""
    record_id: int = 0
    reason: str | None = None
    attached: Attached | None = None

    @contextmanager
    def staged(self) -> Iterator[None]:
        """Stage the files for the write inside the block; afterwards remove the staged
        bytes the write did not attach (all of them when it did not write)."""
        written = False
        try:
            form_files.stage(self.runtime, self.live, self.chosen)
            yield
            written = True
        finally:
            attached = self.attached if written else None
            form_files.discard(self.runtime, self.live, self.chosen, attached)

    def __call__(self, tx: Tx, outcomes: list[Outcome]) -> None:
        [written] = outcomes
        assert written.record is not None
        merged = not self.editing and written.merged_into is not None
        self.record_id = written.merged_into if merged else written.record["id"]  # type: ignore[assignment]
        self.attached = form_files.attach(
            tx.control, self.runtime, self.live, self.record_id, self.chosen, updated=merged
        )
        if self.editing:
            self.outcome, why = "updated", ["changed through a self-service edit link"]
        elif merged:
            self.outcome, why = "updated", ["matched a record on file and updated it"]
        else:
            self.outcome = "created"
            duplicates = ", ".join(str(c.public()["record"]) for c in written.candidates)
            why = [f"possible duplicate of record {duplicates} queued for review"]
            why = why if duplicates else []
        if written.kept:  # a looser status or consent the post sent: said, never dropped
            why.append(restrictive.kept_text(self.live.rt, written.kept))
        self.reason = "; ".join([*why, *self.attached.notes]) or None
        if not form_submissions.decide_within(
            tx.control,
            self.submission_id,
            self.outcome,
            record_id=self.record_id,
            reason=self.reason,
        ):
            raise GivenUp()


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
    token: str | None = None,
) -> Answer:
    """The form once more, with what was typed, the errors and a fresh token or ``token``
    (and a note to choose again the files that were fine)."""
    page = Page(
        live.form,
        live,
        token or tokens.issue(runtime, live.form.id),
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


def _replay(runtime: Runtime, post: Post, first_id: int) -> Answer | None:
    """Answer as the first post with this token was answered (waiting for it while it is
    being decided), and count this one as a replay; or None: the first one failed or never
    finished, and this post takes its place (it is taken like a first post)."""
    deadline = time.monotonic() + REPLAY_WAIT_SECONDS
    first = form_submissions.get(runtime, first_id)
    while first["outcome"] == "received" and time.monotonic() < deadline:
        time.sleep(0.1)
        first = form_submissions.get(runtime, first_id)
    if first["outcome"] in {"received", "failed"}:
        if _take_over(runtime, post, first):
            return None
        first = form_submissions.get(runtime, first_id)
    live = post.live
    reason = f"the same post as submission {first_id}"
    outcome = first["outcome"]
    if outcome in {"created", "updated"}:
        ref = first["ref"] if outcome == "created" else None
        return done(runtime, live, "replay", record_id=first["record_id"], reason=reason, ref=ref)
    if outcome == "refused":
        return Answer("refused", "replay", 200, REFUSED, reason=reason)
    if outcome in {"received", "failed"}:  # another resend took its place just now
        return busy(Unavailable("the same page is being sent again meanwhile"))
    answer = again(runtime, live, post.raw, post.read, CHECK, 422, reason=reason)
    answer.outcome = "replay"
    return answer


def _take_over(runtime: Runtime, post: Post, first: Mapping[str, Any]) -> bool:
    """Give up the first post of the token (unless it was decided meanwhile) and move the
    token's claim to this one; False when the first was decided or another resend won."""
    reason = f"given up: the same page was sent again (submission {post.submission_id})"
    with transaction(runtime.control, write=True) as conn:
        if first["outcome"] == "received" and not form_submissions.decide_within(
            conn, first["id"], "failed", reason=reason
        ):
            return False
        return tokens.take_over(conn, post.token, first["id"], post.submission_id)


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
