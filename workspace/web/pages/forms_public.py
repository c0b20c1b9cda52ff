"""Public forms, served without login (issue 4): fill in, send, and self-service edits.

Plain HTML forms posted and answered with a page (no JavaScript needed). A reload of the
answer re-posts the same one-time token, which the service answers as the first time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Response, Template

from workspace.services import form_edits, form_intake
from workspace.services.form_config import Placed
from workspace.services.form_intake import HONEYPOT, Answer, Page
from workspace.services.form_tokens import LinkError
from workspace.web.fields import field_value
from workspace.web.pages.session import RuntimeDep

Form = URLEncodedBody[dict[str, Any]]
#: Answers that render the message page, and its heading for each.
HEADINGS = {
    "closed": "This form is closed",
    "unavailable": "This form is not available",
    "limited": "Please try again later",
    "link": "This link cannot be used",
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
        return message_page("closed", form_intake.CLOSED, 200 if status == 200 else status)
    if page.live is None:
        return message_page("unavailable", form_intake.UNAVAILABLE, 503)
    context = {
        "form": page.form,
        "config": page.form.config,
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
        return message_page("unavailable", form_intake.UNAVAILABLE, 503)
    context = {
        "form": page.form,
        "fields": shown_fields(form_edits.editable(page.live), page),
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


class PublicFormPages(Controller):
    """Reachable without a session; CSRF still applies to the posts."""

    path = "/f"

    @get("/{slug:str}", sync_to_thread=True)
    def show(self, request: Request[Any, Any, Any], runtime: RuntimeDep, slug: str) -> Template:
        query = {key: str(value) for key, value in request.query_params.items()}
        return form_page(form_intake.blank(runtime, slug, query, field_value))

    @post("/{slug:str}", sync_to_thread=True)
    def submit(
        self, request: Request[Any, Any, Any], runtime: RuntimeDep, slug: str, data: Form
    ) -> Response[Any]:
        answer = form_intake.submit(runtime, slug, data, client_address(request), field_value)
        return answered(answer, slug)

    @get("/{slug:str}/edit/{token:str}", sync_to_thread=True)
    def edit(self, runtime: RuntimeDep, slug: str, token: str) -> Template:
        try:
            page = form_edits.open_edit(runtime, slug, token)
        except LinkError as exc:
            status = 410 if exc.kind in {"expired", "gone"} else 404
            return message_page("link", form_edits.LINK_MESSAGES[exc.kind], status)
        if not page.form.is_open:
            return message_page("closed", form_intake.CLOSED, 200)
        return edit_page(page)

    @post("/{slug:str}/edit/{token:str}", sync_to_thread=True)
    def save_edit(
        self,
        request: Request[Any, Any, Any],
        runtime: RuntimeDep,
        slug: str,
        token: str,
        data: Form,
    ) -> Response[Any]:
        answer = form_edits.save_edit(
            runtime, slug, token, data, client_address(request), field_value
        )
        return answered(answer, slug, editing=True)
