"""What the connectors' pages answer with besides a page: the redirect after a form post
(303, so a reload never posts again) and the status a refused post's page carries."""

from __future__ import annotations

from litestar.response import Redirect

from workspace.errors import WorkspaceError


def see_other(url: str) -> Redirect:
    return Redirect(url, status_code=303)


def status_of(error: WorkspaceError | None) -> int:
    return error.status if error else 200
