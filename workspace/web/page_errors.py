"""Errors on HTML pages: a readable page (or an htmx fragment), never a stack trace.

A request that needs a login is sent to the login page and brought back afterwards.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.response import Redirect, Template

from workspace.errors import DataMoving, Merged, NotAuthenticated, Unavailable, WorkspaceError
from workspace.web.errors import API_EXCEPTION_HANDLERS, log_incident
from workspace.web.htmx import is_htmx

TITLES = {
    400: "That request did not make sense",
    401: "Please log in",
    403: "You do not have access to this",
    404: "Not found",
    405: "Not allowed",
    409: "That clashes with something",
    413: "Too large",
    422: "Please check the input",
    503: "Busy for a moment",
}
#: A move's write freeze is planned maintenance, not a failure.
MAINTENANCE = "Maintenance, back in a moment"


def error_page(
    request: Request[Any, Any, Any],
    status: int,
    message: str,
    *,
    title: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    """A full page, or for htmx a fragment shown in the page's message area (never swapped
    into whatever the request targeted: a 404 must not replace a whole list)."""
    title = title or TITLES.get(status, "Something went wrong")
    context = {"status": status, "title": title, "message": message}
    headers = dict(headers or {})
    if is_htmx(request):
        headers.update({"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"})
        return Template("_error.html", context=context, status_code=status, headers=headers)
    return Template("error.html", context=context, status_code=status, headers=headers)


def login_redirect(request: Request[Any, Any, Any]) -> Response[Any]:
    """To the login page, which comes back to the page asked for, its query (a search, a
    filter) included."""
    query = request.url.query
    back = request.url.path + (f"?{query}" if query else "")
    target = "/login?next=" + quote(back, safe="/")
    if is_htmx(request):
        return Response(b"", status_code=200, headers={"HX-Redirect": target})
    return Redirect(target, status_code=303)


def page_workspace_error(request: Request[Any, Any, Any], exc: WorkspaceError) -> Response[Any]:
    if isinstance(exc, NotAuthenticated):
        return login_redirect(request)
    if isinstance(exc, Merged):  # a merged record's page lives on at the survivor's
        target = re.sub(r"/r/\d+", f"/r/{exc.survivor_id}", request.url.path, count=1)
        if is_htmx(request):
            return Response(b"", status_code=200, headers={"HX-Redirect": target})
        return Redirect(target, status_code=301)
    if isinstance(exc, Unavailable):  # when to retry, as the API says it
        title = MAINTENANCE if isinstance(exc, DataMoving) else None
        headers = {"Retry-After": str(exc.retry_after)}
        return error_page(request, exc.status, exc.message, title=title, headers=headers)
    return error_page(request, exc.status, exc.message)


def page_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    message = {
        404: "There is nothing at this address. It may have been deleted, or the link is wrong.",
        405: "This address does not accept that kind of request.",
        403: "The form has expired or did not come from this site. Reload the page and try again.",
    }.get(exc.status_code, str(exc.detail))
    return error_page(request, exc.status_code, message)


def page_internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    incident = log_incident(request)
    message = f"Something went wrong on our side. It was logged as incident {incident}."
    return error_page(request, 500, message)


PAGE_EXCEPTION_HANDLERS: dict[Any, Any] = {
    WorkspaceError: page_workspace_error,
    HTTPException: page_http_error,
    Exception: page_internal_error,
}


def by_path(kind: Any) -> Any:
    """App-level handler for errors outside any router (no route matched): JSON under /api."""
    api, page = API_EXCEPTION_HANDLERS[kind], PAGE_EXCEPTION_HANDLERS[kind]

    def handle(request: Request[Any, Any, Any], exc: Any) -> Response[Any]:
        return (api if request.url.path.startswith("/api/") else page)(request, exc)

    return handle


APP_EXCEPTION_HANDLERS = {kind: by_path(kind) for kind in PAGE_EXCEPTION_HANDLERS}
