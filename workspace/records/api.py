"""Records of one record type: CRUD, list/query, bulk, upsert and per-record activity."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Response, delete, get, patch, post
from litestar.params import HeaderParameter, JSONBody, QueryParameter

from workspace import activity, json_input
from workspace.automations import automations
from workspace.errors import BadRequest
from workspace.records import labels, records
from workspace.schema.definitions import open_type
from workspace.web.api_deps import PrincipalDep, RuntimeDep
from workspace.web.bodies import BulkIn, QueryIn, RecordIn, RecordPatch, UpsertIn

RECORD = "/{record_id:int}"


class RecordController(Controller):
    path = "/workspaces/{workspace_id:int}/types/{record_type_id:int}/records"
    tags = ["records"]

    @get("/", sync_to_thread=True)
    def list_records(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        filter_: Annotated[
            str | None, QueryParameter(name="filter", description="JSON filter tree")
        ] = None,
        sort: str | None = None,
        search: str | None = None,
        limit: int = 25,
        cursor: str | None = None,
        deleted: str = "exclude",
        total: bool = False,
    ) -> dict[str, Any]:
        """``filter`` is JSON, e.g. ``[{"field": "status", "op": "eq", "value": "Won"}]``;
        ``sort`` is ``name,-amount``; pass ``next_cursor`` back as ``cursor`` for the next page."""
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        return records.list_records(
            runtime,
            acc,
            rt,
            filter=_json_param(filter_),
            sort=sort,
            search=search,
            limit=limit,
            cursor=cursor,
            deleted=deleted,
            with_total=total,
        )

    @post("/query", sync_to_thread=True, status_code=200)
    def query_records(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        data: JSONBody[QueryIn],
    ) -> dict[str, Any]:
        """The list endpoint with its parameters in a JSON body, for long filters."""
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        return records.list_records(
            runtime,
            acc,
            rt,
            filter=data.filter,
            sort=data.sort,
            search=data.search,
            limit=data.limit,
            cursor=data.cursor,
            deleted=data.deleted,
            with_total=data.total,
        )

    @post("/", sync_to_thread=True)
    def create_record(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        data: JSONBody[RecordIn],
    ) -> Response[dict[str, Any]]:
        """201 with the new record (and ``duplicates`` a warn rule queued for review), or 200
        with ``merged_into`` and a ``message`` for people ("Merged into Bob Stone #2, which
        was on file") when a dedupe rule merged it into the record on file."""
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        record = records.create(runtime, acc, rt, data.fields)
        if "merged_into" not in record:
            return Response(record, status_code=201)
        return Response(record | {"message": labels.merged_message(rt, record)}, status_code=200)

    @post("/upsert", sync_to_thread=True)
    def upsert_record(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        data: JSONBody[UpsertIn],
    ) -> Response[dict[str, Any]]:
        """Update the record whose ``match_on`` values equal these (201 if none: created)."""
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        record, created = records.upsert(runtime, acc, rt, data.fields, data.match_on)
        return Response(record, status_code=201 if created else 200)

    @post("/bulk", sync_to_thread=True, status_code=200)
    def bulk(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        data: JSONBody[BulkIn],
    ) -> Response[dict[str, Any]]:
        """Create, update or upsert up to 1,000 records in one transaction, with a result per
        item. With ``atomic`` (default) one bad item writes nothing and the answer is 422."""
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        result = records.bulk(
            runtime, acc, rt, data.items, mode=data.mode, match_on=data.match_on, atomic=data.atomic
        )
        return Response(result, status_code=200 if result["written"] else 422)

    @get(RECORD, sync_to_thread=True)
    def get_record(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        record_id: int,
    ) -> dict[str, Any]:
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        return records.get(runtime, acc, rt, record_id)

    @patch(RECORD, sync_to_thread=True)
    def update_record(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        record_id: int,
        data: JSONBody[RecordPatch],
        if_match: Annotated[str | None, HeaderParameter(name="If-Match")] = None,
    ) -> dict[str, Any]:
        """Partial update. Send the ``version`` you read (or ``If-Match``) to get 409 instead
        of overwriting someone else's change. Loosening a restrictive field needs the admin
        role and a ``reason``; anyone else gets 409 naming the field and its value."""
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        version = data.sent().get("version", _version_header(if_match))
        return records.update_record(
            runtime, acc, rt, record_id, data.fields, version=version, reason=data.reason
        )

    @delete(RECORD, sync_to_thread=True)
    def delete_record(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        record_id: int,
        if_match: Annotated[str | None, HeaderParameter(name="If-Match")] = None,
    ) -> None:
        """Soft delete; ``POST .../restore`` brings the record back."""
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        records.delete(runtime, acc, rt, record_id, version=_version_header(if_match))

    @post(RECORD + "/restore", sync_to_thread=True, status_code=200)
    def restore_record(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        record_id: int,
    ) -> dict[str, Any]:
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        return records.restore(runtime, acc, rt, record_id)

    @get(RECORD + "/activity", sync_to_thread=True)
    def record_activity(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        record_id: int,
        limit: int = 50,
        before: int | None = None,
    ) -> dict[str, Any]:
        """The record's history, newest first; an entry made by an automation names it
        (``source_name``)."""
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        page = activity.for_record(runtime, acc, rt.id, record_id, limit=limit, before=before)
        return automations.with_names(runtime, acc, page)


def _json_param(raw: str | None) -> Any:
    if raw is None or raw == "":
        return None
    try:
        return json_input.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"filter: not valid JSON ({exc})") from None


def _version_header(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip().strip('"').removeprefix("W/").strip('"'))
    except ValueError:
        raise BadRequest("If-Match: must be the record's version number") from None
