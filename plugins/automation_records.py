"""Built-in actions that write records: set fields of the run's record, create or update
related records, create or update a record matched through dedupe rules. Every write goes
through the records service (validation, dedupe, ownership, activity) as the automation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workspace import Action, Checks, Step, ValidationFailed, hookimpl


class SetFields(Action):
    """``{"values": {"status": "Customer", "note": "Won on {{ today }}"}}``"""

    name = "set_fields"
    label = "Set fields of the record"

    def check(self, config: Mapping[str, Any], checks: Checks, where: str) -> dict[str, Any]:
        checks.only(config, {"values"}, where)
        return {"values": checks.values(config.get("values"), f"{where}.values")}

    def run(self, step: Step) -> dict[str, Any] | None:
        return step.update_record(step.config["values"])


class RelatedRecords(Action):
    """Update the records linked to this one, through this type's relation field
    (``{"relation": "related", "values": {...}}``) or through another type's relation that
    points here (``{"record_type": 7, "via": "account", "values": {...}, "create": true}``:
    with ``create``, one is created when none is linked; dedupe rules match it to a record on
    file first, so this never makes a duplicate)."""

    name = "related_records"
    label = "Create or update related records"

    def check(self, config: Mapping[str, Any], checks: Checks, where: str) -> dict[str, Any]:
        checks.only(config, {"relation", "record_type", "via", "values", "create"}, where)
        create = config.get("create", False)
        if not isinstance(create, bool):
            raise ValidationFailed.single(f"{where}.create", "must be true or false")
        if config.get("relation") is not None:
            f = checks.relation(config["relation"], f"{where}.relation")
            if create:
                raise ValidationFailed.single(
                    f"{where}.create",
                    "creating needs record_type and via (a relation of that type pointing here)",
                )
            target = int(f.config["target"])
            values = checks.values(config.get("values"), f"{where}.values", record_type_id=target)
            return {"relation": f.key, "values": values, "create": False}
        record_type = config.get("record_type")
        via = checks.backlink(record_type, config.get("via"), f"{where}.via")
        values = checks.values(config.get("values"), f"{where}.values", record_type_id=record_type)
        return {"record_type": record_type, "via": via.key, "values": values, "create": create}

    def run(self, step: Step) -> dict[str, Any] | None:
        c = step.config
        return step.related(
            c["values"],
            relation=c.get("relation"),
            record_type_id=c.get("record_type"),
            via=c.get("via"),
            create=c["create"],
        )


class UpsertRecord(Action):
    """Create a record of ``record_type`` from ``values`` (templates of the trigger's data,
    e.g. an inbound webhook's payload), or update the one its dedupe rules match."""

    name = "upsert_record"
    label = "Create or update a record"

    def check(self, config: Mapping[str, Any], checks: Checks, where: str) -> dict[str, Any]:
        checks.only(config, {"record_type", "values"}, where)
        record_type = config.get("record_type", checks.record_type_id)
        values = checks.values(config.get("values"), f"{where}.values", record_type_id=record_type)
        return {"record_type": record_type, "values": values}

    def run(self, step: Step) -> dict[str, Any] | None:
        return step.upsert(step.config["record_type"], step.config["values"])


@hookimpl
def register_automation_actions(register: Any) -> None:
    for action in (SetFields, RelatedRecords, UpsertRecord):
        register(action)
