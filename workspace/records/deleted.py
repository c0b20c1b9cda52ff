"""Reading a soft-deleted record, so its page can say it was deleted and offer to restore it.

``records.get`` answers 404 for a deleted record (lists and the API must not show it); a
person who follows an old link deserves "this was deleted, restore it?" instead.
"""

from __future__ import annotations

from typing import Any

from workspace.db import transaction
from workspace.errors import NotFound
from workspace.principal import Access
from workspace.records import file_values
from workspace.runtime import Runtime
from workspace.schema.record_values import load_records
from workspace.schema.tables import RecordTypeDef


def get_deleted(runtime: Runtime, acc: Access, rt: RecordTypeDef, record_id: int) -> dict[str, Any]:
    """A deleted record in the API shape, with ``deleted_at`` and ``deleted_by``.

    Raises NotFound when there is no such record or it is not deleted.
    """
    with transaction(runtime.data_engine(acc.workspace_id)) as conn:
        row = conn.execute(rt.select_by_id, {"record_id": record_id}).mappings().first()
        if row is None or row["deleted_at"] is None:
            raise NotFound("record not found")
        record = load_records(conn, rt, [row])[0]
    file_values.fill(runtime, rt, [record])
    return record
