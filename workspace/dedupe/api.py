"""Dedupe rules of a record type and across types, and the duplicate check that writes
nothing."""

from __future__ import annotations

from typing import Any

from litestar import Controller, delete, get, patch, post
from litestar.params import JSONBody

from workspace.access import workspaces
from workspace.dedupe import merges, spans
from workspace.dedupe import queue as duplicates
from workspace.dedupe import rules as dedupe_rules
from workspace.records import records
from workspace.schema.definitions import open_type
from workspace.web.api_deps import PrincipalDep, RuntimeDep
from workspace.web.bodies import (
    DecisionIn,
    DedupeRuleIn,
    DedupeRulePatch,
    DedupeSpanIn,
    DedupeSpanPatch,
    DuplicateCheckIn,
    MergeIn,
)

TYPE = "/workspaces/{workspace_id:int}/types/{record_type_id:int}"


class DedupeController(Controller):
    path = TYPE
    tags = ["dedupe"]

    @get("/dedupe-rules", sync_to_thread=True)
    def list_rules(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, record_type_id: int
    ) -> list[dict[str, Any]]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return dedupe_rules.list_rules(runtime, acc, record_type_id)

    @post("/dedupe-rules", sync_to_thread=True)
    def add_rule(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        data: JSONBody[DedupeRuleIn],
    ) -> dict[str, Any]:
        """Apply a rule (``email``, ``phone``, ``company``, ``person_name``, ``contact``...) to
        fields. Modes per operation: ``block`` refuses a duplicate (409), ``update`` merges a
        new record into the one on file (200 with ``merged_into``), ``warn`` creates it and
        lists the ``duplicates`` queued for review (201). Records on file get keys at once."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return dedupe_rules.add_rule(runtime, acc, record_type_id, data.sent())

    @patch("/dedupe-rules/{rule_id:int}", sync_to_thread=True)
    def change_rule(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        rule_id: int,
        data: JSONBody[DedupeRulePatch],
    ) -> dict[str, Any]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return dedupe_rules.change_rule(runtime, acc, record_type_id, rule_id, data.sent())

    @delete("/dedupe-rules/{rule_id:int}", sync_to_thread=True)
    def delete_rule(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        rule_id: int,
    ) -> None:
        acc = workspaces.access(runtime, principal, workspace_id)
        dedupe_rules.delete_rule(runtime, acc, record_type_id, rule_id)

    @post("/records/check", sync_to_thread=True, status_code=200)
    def check(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        data: JSONBody[DuplicateCheckIn],
    ) -> dict[str, Any]:
        """Would these values create a duplicate? Runs the type's rules without writing;
        pass ``record`` to check an edit of that record."""
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        found = records.check_duplicates(runtime, acc, rt, data.fields, record_id=data.record)
        return {"duplicates": found}

    @get("/duplicates", sync_to_thread=True)
    def list_pairs(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        status: str = "open",
        limit: int = 50,
        after: str | None = None,
    ) -> dict[str, Any]:
        """The review queue: possible duplicates, best score first, with both records, the
        reasons and the fields that differ. Pass a page's ``next_after`` as ``after`` for the
        next page (keyset paging in the order shown: every pair exactly once)."""
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        return duplicates.list_pairs(runtime, acc, rt, status=status, limit=limit, after=after)

    @post("/duplicates/{pair_id:int}/decision", sync_to_thread=True, status_code=200)
    def decide(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        pair_id: int,
        data: JSONBody[DecisionIn],
    ) -> dict[str, Any]:
        """``not_duplicate`` (remembered: never queued again), ``skipped`` or ``open``."""
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        duplicates.decide(runtime, acc, rt, pair_id, data.decision)
        return {"id": pair_id, "status": data.decision}

    @post("/duplicates/scan", sync_to_thread=True, status_code=200)
    def scan(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
    ) -> dict[str, int]:
        """Compare the records on file by the type's rules and queue likely pairs."""
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        return duplicates.scan(runtime, acc, rt)

    @post("/merges", sync_to_thread=True)
    def merge(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        data: JSONBody[MergeIn],
    ) -> dict[str, Any]:
        """Merge ``loser`` into ``survivor``. Values follow each field's survivorship rule;
        ``values`` overrides per field: "survivor", "loser" or {"value": ...}. The loser
        answers 301 to the survivor from then on; ``POST .../merges/{id}/undo`` reverts."""
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        return merges.merge(runtime, acc, rt, data.survivor, data.loser, data.values)

    @post("/merges/{merge_id:int}/undo", sync_to_thread=True, status_code=200)
    def undo_merge(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type_id: int,
        merge_id: int,
        force: bool = False,
    ) -> dict[str, Any]:
        acc, rt = open_type(runtime, principal, workspace_id, record_type_id)
        return merges.undo(runtime, acc, rt, merge_id, force=force)


class DedupeSpanController(Controller):
    path = "/workspaces/{workspace_id:int}/dedupe-spans"
    tags = ["dedupe"]

    @get("/", sync_to_thread=True)
    def list_spans(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int
    ) -> list[dict[str, Any]]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return spans.list_spans(runtime, acc)

    @post("/", sync_to_thread=True)
    def add_span(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        data: JSONBody[DedupeSpanIn],
    ) -> dict[str, Any]:
        """Span an exact rule across record types: ``types`` lists each type with the fields
        the rule reads on it (the field mapping, positions of one field type) and its own
        modes, e.g. Lead ``warn`` ("a Contact with this email exists: #12") and Contact
        ``block``. All types share one key space, so a block holds across them under races.
        Records on file get keys at once; duplicates on file go to the review queue."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return spans.add_span(runtime, acc, data.sent())

    @get("/{span_id:int}", sync_to_thread=True)
    def get_span(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, span_id: int
    ) -> dict[str, Any]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return spans.get_span(runtime, acc, span_id)

    @patch("/{span_id:int}", sync_to_thread=True)
    def change_span(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        span_id: int,
        data: JSONBody[DedupeSpanPatch],
    ) -> dict[str, Any]:
        """The modes per type (``types``: [{type, on_create, on_update}])."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return spans.change_span(runtime, acc, span_id, data.sent())

    @delete("/{span_id:int}", sync_to_thread=True)
    def delete_span(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, span_id: int
    ) -> None:
        acc = workspaces.access(runtime, principal, workspace_id)
        spans.delete_span(runtime, acc, span_id)
