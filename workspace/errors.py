"""Domain errors raised by services and turned into HTTP answers by the web layer.

Each carries the HTTP status it maps to, a stable machine-readable ``code`` and, where the
problem lies in one or more inputs, a ``fields`` mapping of field -> reason, so every client
(API, UI, forms) can show the reason next to the field that caused it.
"""

from __future__ import annotations

from typing import Any


class WorkspaceError(Exception):
    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        fields: dict[str, str] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        body.update(self.details)
        return {"error": body}


class BadRequest(WorkspaceError):
    status = 400
    code = "bad_request"


class NotAuthenticated(WorkspaceError):
    status = 401
    code = "not_authenticated"


class PermissionDenied(WorkspaceError):
    status = 403
    code = "permission_denied"


class NotFound(WorkspaceError):
    status = 404
    code = "not_found"


class Merged(WorkspaceError):
    """The record was merged into another one; clients are sent there (301)."""

    status = 301
    code = "merged"

    def __init__(self, record_id: int, survivor_id: int) -> None:
        super().__init__(
            f"record {record_id} was merged into record {survivor_id}",
            details={"merged_into": survivor_id},
        )
        self.survivor_id = survivor_id


class Conflict(WorkspaceError):
    status = 409
    code = "conflict"


class UniqueViolation(Conflict):
    code = "unique_violation"


class DuplicateFound(Conflict):
    """A dedupe rule in block mode found the same customer already on file."""

    code = "duplicate"


class VersionConflict(Conflict):
    code = "version_conflict"


class TooLarge(WorkspaceError):
    status = 413
    code = "body_too_large"


class ValidationFailed(WorkspaceError):
    status = 422
    code = "validation_failed"

    @classmethod
    def single(cls, field: str, reason: str) -> ValidationFailed:
        return cls(f"{field}: {reason}", fields={field: reason})


class Unavailable(WorkspaceError):
    """A temporary condition (schema change, locked database): the client should retry."""

    status = 503
    code = "unavailable"

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


class RateLimited(WorkspaceError):
    """Too many requests from one token or address in the current window."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


class DataMoving(Unavailable):
    """The workspace's record data is being made equal on its new database and switched over
    : writes wait a few seconds. Pages show it as maintenance, not as a failure."""

    code = "data_moving"

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__(
            "This workspace is being moved to another database; retry in a moment",
            retry_after=retry_after,
        )
