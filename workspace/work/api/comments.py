"""Comments on records: list and add per record; read, edit and delete one by id."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, delete, get, patch, post
from litestar.params import JSONBody

from workspace.access import workspaces
from workspace.schema.definitions import open_type
from workspace.web.api_deps import PrincipalDep, RuntimeDep
from workspace.web.bodies import Body
from workspace.work import comments


class CommentBody(Body):
    #: Plain text; **bold**, _italic_, `code` and links are formatted when shown, and
    #: ``@handle`` (the part of a member's email before the @) mentions and notifies them.
    body: str


class CommentController(Controller):
    path = "/workspaces/{workspace_id:int}"
    tags = ["comments"]

    @get("/types/{record_type_id:int}/records/{record_id:int}/comments", sync_to_thread=True)
    def list_comments(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        record_id: int,
        limit: int = comments.PAGE,
        after: int | None = None,
    ) -> dict[str, Any]:
        """A page of the record's comments, oldest first, with the members each one
        mentions; pass ``next_after`` back as ``after`` for the next page."""
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        return comments.list_for_record(runtime, acc, rt, record_id, limit=limit, after=after)

    @post("/types/{record_type_id:int}/records/{record_id:int}/comments", sync_to_thread=True)
    def add_comment(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        record_id: int,
        data: JSONBody[CommentBody],
    ) -> Response[dict[str, Any]]:
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        return Response(comments.add(runtime, acc, rt, record_id, data.body), status_code=201)

    @get("/comments/{comment_id:int}", sync_to_thread=True)
    def get_comment(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, comment_id: int
    ) -> dict[str, Any]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return comments.get(runtime, acc, comment_id)

    @patch("/comments/{comment_id:int}", sync_to_thread=True)
    def edit_comment(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        comment_id: int,
        data: JSONBody[CommentBody],
    ) -> dict[str, Any]:
        """Only the author edits a comment; the old text stays in the record's activity."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return comments.edit(runtime, acc, comment_id, data.body)

    @delete("/comments/{comment_id:int}", sync_to_thread=True)
    def delete_comment(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, comment_id: int
    ) -> None:
        """The author or an admin deletes a comment; its text stays in the activity."""
        acc = workspaces.access(runtime, principal, workspace_id)
        comments.delete_comment(runtime, acc, comment_id)
