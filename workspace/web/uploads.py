"""Closing the temporary files of multipart uploads, whoever parsed them.

Litestar spools uploaded parts to temporary files when the form is parsed, and leaves
closing them to the handler. A request refused before its handler runs (CSRF, size limit,
an error) would leak them, so an app-wide middleware closes whatever the request parsed once
the response is done.
"""

from __future__ import annotations

from typing import Any

from litestar.datastructures import UploadFile
from litestar.types import ASGIApp, Receive, Scope, Send
from litestar.utils.empty import value_or_default
from litestar.utils.scope.state import ScopeState


def close_uploaded_files(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await app(scope, receive, send)
        finally:
            form: Any = value_or_default(ScopeState.from_scope(scope).form, {})
            for value in form.values():
                for part in value if isinstance(value, list) else [value]:
                    if isinstance(part, UploadFile):
                        await part.close()

    return middleware
