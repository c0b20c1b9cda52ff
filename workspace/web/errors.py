"""Errors as the client reads them: JSON ``{"error": {"code", "message", "fields"?}}`` under
/api, an HTML page (or htmx fragment) everywhere else.

Clients never see a stack trace; a 500 carries an id that points at the logged traceback.
"""

from __future__ import annotations

import logging
import re
import secrets
import traceback
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException

from workspace.errors import Merged, RateLimited, Unavailable, WorkspaceError

log = logging.getLogger("workspace.web")
UNKNOWN_FIELD = re.compile(r"unknown field `([^`]+)`")
MISSING_FIELD = re.compile(r"missing required field `([^`]+)`")
#: Litestar calls the request body ``data``; clients know it as the body.
BODY_KEYS = {"", "data"}


def error_body(code: str, message: str, fields: dict[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def workspace_error(request: Request[Any, Any, Any], exc: WorkspaceError) -> Response[Any]:
    headers: dict[str, str] = {}
    if isinstance(exc, Unavailable | RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Merged):  # a tombstone: send the client to the surviving record
        headers["Location"] = re.sub(r"/\d+$", f"/{exc.survivor_id}", request.url.path)
    return Response(exc.to_dict(), status_code=exc.status, headers=headers or None)


def validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """Litestar's body/parameter validation: name each field and the reason, as 422."""
    fields: dict[str, str] = {}
    for problem in exc.extra or []:
        if isinstance(problem, dict):
            key, reason = _field_problem(str(problem.get("key") or ""), problem.get("message"))
            fields[key] = reason
    message = "; ".join(f"{k}: {v}" for k, v in fields.items()) or str(exc.detail)
    return Response(error_body("validation_failed", message, fields), status_code=422)


def _field_problem(key: str, raw: Any) -> tuple[str, str]:
    """One msgspec complaint as (the client's name for the field, a reason in plain words)."""
    message = str(raw or "is invalid")
    parent = "" if key in BODY_KEYS else key + "."
    if unknown := UNKNOWN_FIELD.search(message):
        return parent + unknown.group(1), "is not a known field"
    if missing := MISSING_FIELD.search(message):
        return parent + missing.group(1), "is required"
    if key in BODY_KEYS:
        # A missing body surfaces as a KeyError on ``data``.
        reason = "is required: send a JSON object" if message == "'data'" else message
        return "body", reason
    return key, message


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    code = {
        400: "bad_request",
        401: "not_authenticated",
        403: "permission_denied",
        404: "not_found",
        405: "method_not_allowed",
        413: "body_too_large",
    }.get(exc.status_code, "http_error")
    message = str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":  # the router matched no path
        message = (
            f"nothing at {request.method} {request.url.path}; check the path "
            "(ids in it are whole numbers)"
        )
    elif exc.status_code == 413:
        limit = request.route_handler.resolve_request_max_body_size()
        message = f"the body is larger than {limit} bytes" if limit else "the body is too large"
    elif isinstance(exc.__cause__, SerializationException):  # msgspec could not decode it
        code = "bad_json"
        message = "the body is not valid JSON: " + message.removeprefix("JSON is malformed: ")
    return Response(error_body(code, message), status_code=exc.status_code, headers=exc.headers)


def encoding_error(request: Request[Any, Any, Any], exc: UnicodeDecodeError) -> Response[Any]:
    """A body that is not UTF-8 fails in the JSON decoder with a UnicodeDecodeError, not as a
    decode error; anywhere else the same exception is our bug and stays a 500."""
    if not _raised_reading_body(exc):
        return internal_error(request, exc)
    message = f"the body is not valid JSON: it is not UTF-8 (byte {exc.start})"
    return Response(error_body("bad_json", message), status_code=400)


def _raised_reading_body(exc: BaseException) -> bool:
    return any(
        frame.f_code.co_name == "json"
        and frame.f_globals.get("__name__") == "litestar.connection.request"
        for frame, _ in traceback.walk_tb(exc.__traceback__)
    )


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    message = f"something went wrong on our side; it was logged as incident {log_incident(request)}"
    return Response(error_body("internal_error", message), status_code=500)


def log_incident(request: Request[Any, Any, Any]) -> str:
    """Log the exception being handled with a short id the user can quote."""
    incident = secrets.token_hex(6)
    log.exception("unhandled error %s on %s %s", incident, request.method, request.url.path)
    return incident


API_EXCEPTION_HANDLERS: dict[Any, Any] = {
    WorkspaceError: workspace_error,
    ValidationException: validation_error,
    HTTPException: http_error,
    UnicodeDecodeError: encoding_error,
    Exception: internal_error,
}
