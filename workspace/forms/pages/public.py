"""Public forms, served without login: fill in, send, and self-service edits.

Plain HTML forms posted and answered with a page (no JavaScript needed). A reload of the
answer re-posts the same one-time token, which the service answers as the first time.

A form with a file field is sent as ``multipart/form-data``. Its post may be as large as the
files the form takes (``max_file_bytes`` each, plus an envelope); :class:`FormPostLimit`
refuses a larger body before it is read, keeps the refusal as a submission and answers 413
with a page the submitter can read.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.response import Redirect, Response, Template
from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send

from workspace.errors import TooLarge
from workspace.files.files import Incoming
from workspace.forms import edits as form_edits
from workspace.forms import intake
from workspace.forms.config import Placed
from workspace.forms.intake import HONEYPOT, Answer, Page
from workspace.forms.tokens import LinkError
from workspace.forms.uploads import KIND_WORDS
from workspace.web.fields import field_value
from workspace.web.file_transfer import ENVELOPE
from workspace.web.session import RuntimeDep

#: Answers that render the message page, and its heading for each.
HEADINGS = {
    "closed": "This form is closed",
    "unavailable": "This form is not available",
    "limited": "Please try again later",
    "link": "This link cannot be used",
    "too_large": "That is too much for this form",
    "busy": "Busy for a moment",
}
#: What a file input of a form with a kind restriction offers in the browser's picker (a
#: convenience only: the server judges the bytes).
ACCEPT = {
    "images": "image/*",
    "documents": ".pdf,.doc,.docx,.odt,.rtf,.txt,.csv,.xls,.xlsx,.ods,.ppt,.pptx,.odp",
}


@dataclass(frozen=True)
class Shown:
    """One input as fields/_macros.html's ``input`` takes it, with the form's wording."""

    key: str
    name: str
    type: Any
    config: Mapping[str, Any]
    required: bool
    help: str
    value: Any
    error: str | None
    #: File fields: how many files the input takes, what its picker offers and which files
    #: it takes in words, a note to show.
    max_files: int = 1
    accept: str = ""
    wanted: str = ""
    note: str | None = None


def shown_fields(places: list[Placed], page: Page) -> list[Shown]:
    return [
        Shown(
            key=p.key,
            name=p.spec.label,
            type=p.field.type,
            config=p.field.config,
            required=p.spec.required,
            help=p.spec.help,
            value=page.values.get(p.key),
            error=page.errors.get(p.key),
            max_files=p.max_files,
            accept=ACCEPT.get(p.spec.kinds or "", ""),
            wanted=KIND_WORDS.get(p.spec.kinds or "", ("", ""))[1],
            note=page.notes.get(p.key),
        )
        for p in places
    ]


def hidden_inputs(page: Page) -> list[tuple[str, str]]:
    """Hidden fields pre-filled from the query string (fixed values never leave the server)."""
    if page.live is None:
        return []
    return [
        (p.key, str(page.values.get(p.key) or ""))
        for p in page.live.placed
        if p.spec.hidden and p.spec.value is None and page.values.get(p.key)
    ]


def client_address(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client is not None else "unknown"


def form_page(page: Page, status: int = 200) -> Template:
    if not page.form.is_open:
        return message_page("closed", intake.CLOSED, 200 if status == 200 else status)
    if page.live is None:
        return message_page("unavailable", intake.UNAVAILABLE, 503)
    context = {
        "form": page.form,
        "config": page.form.config,
        "multipart": any(p.is_file for p in page.live.shown),
        "fields": shown_fields(page.live.shown, page),
        "hidden": hidden_inputs(page),
        "token": page.token,
        "honeypot": HONEYPOT,
        "message": page.message,
        "errors": page.errors,
    }
    return Template("forms/public.html", context=context, status_code=status)


def edit_page(page: Page, status: int = 200) -> Template:
    if page.live is None:
        return message_page("unavailable", intake.UNAVAILABLE, 503)
    places = form_edits.editable(page.live)
    context = {
        "form": page.form,
        "multipart": any(p.is_file for p in places),
        "fields": shown_fields(places, page),
        "token": page.token,
        "message": page.message,
        "errors": page.errors,
    }
    return Template("forms/public_edit.html", context=context, status_code=status)


def message_page(view: str, message: str, status: int) -> Template:
    context = {"heading": HEADINGS.get(view, "Sorry"), "message": message}
    return Template("forms/public_message.html", context=context, status_code=status)


def answered(answer: Answer, slug: str, *, editing: bool = False) -> Response[Any]:
    """The submitter's page for an answer; never shows its outcome, record or reason."""
    response = _answer_page(answer, slug, editing=editing)
    if answer.retry_after is not None:
        response.headers["Retry-After"] = str(answer.retry_after)
    return response


def _answer_page(answer: Answer, slug: str, *, editing: bool) -> Response[Any]:
    if answer.view == "done" and answer.redirect:
        return Redirect(answer.redirect, status_code=303)
    if answer.view in {"done", "refused"}:
        edit_url = f"/f/{slug}/edit/{answer.edit_token}" if answer.edit_token else None
        context = {"message": answer.message, "edit_url": edit_url, "editing": editing}
        return Template("forms/public_done.html", context=context, status_code=answer.status_code)
    if answer.view == "form" and answer.page is not None:
        render = edit_page if editing else form_page
        return render(answer.page, answer.status_code)
    return message_page(answer.view, answer.message, answer.status_code)


class PostTooLarge(TooLarge):
    """A post larger than its form takes (kept as a rejected submission already); the
    message is the submitter's."""


def too_large_page(request: Request[Any, Any, Any], exc: PostTooLarge) -> Template:
    return message_page("too_large", exc.message, 413)


class FormPostLimit:
    """ASGI middleware of the public post: the body may hold the files the form takes
    (``max_file_bytes`` each plus :data:`ENVELOPE`) or, for a form without file fields,
    ``max_body_bytes``. Checked on the declared length before anything is read and on the
    bytes as they arrive; a refused post is kept as a rejected submission."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        runtime = scope["app"].state.runtime
        slug = str(scope["path_params"].get("slug", ""))
        files = await anyio.to_thread.run_sync(intake.most_files, runtime, slug)
        settings = runtime.settings
        limit = ENVELOPE + files * settings.max_file_bytes if files else settings.max_body_bytes
        client = scope.get("client")
        kind = "edit" if "token" in scope["path_params"] else "submit"
        address = client[0] if client else "unknown"
        keep = functools.partial(intake.oversized, runtime, slug, kind, address, limit)
        problem = PostTooLarge(intake.FILES_TOO_LARGE if files else intake.TOO_LARGE)
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await anyio.to_thread.run_sync(keep)
            raise problem
        seen, over = 0, False

        async def counted() -> ReceiveMessage:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    raise problem
            return message

        try:
            await self.app(scope, counted, send)
        finally:
            if over:
                await anyio.to_thread.run_sync(keep)


async def posted(
    request: Request[Any, Any, Any],
) -> tuple[dict[str, Any], dict[str, list[Incoming]]]:
    """A post's fields as the urlencoded body gives them (a list for a repeated key) and
    its files by input name (empty file inputs, which browsers send too, left out)."""
    form = await request.form()
    fields: dict[str, Any] = {}
    uploads: dict[str, list[Incoming]] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            if value.filename:
                uploads.setdefault(key, []).append(Incoming(value.filename, value.file))  # type: ignore[arg-type]
            continue
        if key in fields:
            before = fields[key]
            fields[key] = [*before, value] if isinstance(before, list) else [before, value]
        else:
            fields[key] = value
    return fields, uploads


class PublicFormPages(Controller):
    """Reachable without a session; CSRF still applies to the posts."""

    path = "/f"
    exception_handlers = {PostTooLarge: too_large_page}

    @get("/{slug:str}", sync_to_thread=True)
    def show(self, request: Request[Any, Any, Any], runtime: RuntimeDep, slug: str) -> Template:
        query = {key: str(value) for key, value in request.query_params.items()}
        return form_page(intake.blank(runtime, slug, query, field_value))

    @post(
        "/{slug:str}",
        request_max_body_size=None,  # FormPostLimit applies the form's own limit
        middleware=[FormPostLimit],
    )
    async def submit(
        self, request: Request[Any, Any, Any], runtime: RuntimeDep, slug: str
    ) -> Response[Any]:
        """A post as ``application/x-www-form-urlencoded`` or, with files,
        ``multipart/form-data``."""
        fields, uploads = await posted(request)
        take = functools.partial(
            intake.submit,
            runtime,
            slug,
            fields,
            client_address(request),
            field_value,
            uploads,
        )
        return answered(await anyio.to_thread.run_sync(take), slug)

    @get("/{slug:str}/edit/{token:str}", sync_to_thread=True)
    def edit(self, runtime: RuntimeDep, slug: str, token: str) -> Template:
        try:
            page = form_edits.open_edit(runtime, slug, token)
        except LinkError as exc:
            status = 410 if exc.kind in {"expired", "gone"} else 404
            return message_page("link", form_edits.LINK_MESSAGES[exc.kind], status)
        if not page.form.is_open:
            return message_page("closed", intake.CLOSED, 200)
        return edit_page(page)

    @post(
        "/{slug:str}/edit/{token:str}",
        request_max_body_size=None,  # FormPostLimit applies the form's own limit
        middleware=[FormPostLimit],
    )
    async def save_edit(
        self, request: Request[Any, Any, Any], runtime: RuntimeDep, slug: str, token: str
    ) -> Response[Any]:
        fields, uploads = await posted(request)
        save = functools.partial(
            form_edits.save_edit,
            runtime,
            slug,
            token,
            fields,
            client_address(request),
            field_value,
            uploads,
        )
        return answered(await anyio.to_thread.run_sync(save), slug, editing=True)
