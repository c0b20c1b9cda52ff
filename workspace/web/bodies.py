"""Request bodies of the API as msgspec structs: typed, documented in OpenAPI, and strict
(unknown keys are refused by name). ``UNSET`` marks a key the client did not send."""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType


class Body(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    def sent(self) -> dict[str, Any]:
        """Only the keys the client sent (PATCH semantics)."""
        return {
            name: getattr(self, name)
            for name in self.__struct_fields__
            if getattr(self, name) is not UNSET
        }


class UserIn(Body):
    email: str
    name: str = ""
    password: str | None = None
    is_admin: bool = False


class TokenIn(Body):
    name: str


class WorkspaceIn(Body):
    name: str
    phone_region: str | None = None


class WorkspacePatch(Body):
    name: str | UnsetType = UNSET
    phone_region: str | UnsetType | None = UNSET
    time_zone: str | UnsetType | None = UNSET


class MemberIn(Body):
    email: str
    role: str = "member"


class RolePatch(Body):
    role: str


class FieldIn(Body):
    name: str
    type: str
    key: str | UnsetType = UNSET
    config: dict[str, Any] | UnsetType = UNSET


class FieldPatch(Body):
    name: str | UnsetType = UNSET
    key: str | UnsetType = UNSET
    type: str | UnsetType = UNSET
    config: dict[str, Any] | UnsetType = UNSET


class RecordTypeIn(Body):
    name: str
    fields: list[dict[str, Any]] = msgspec.field(default_factory=list)


class RecordTypePatch(Body):
    name: str


class FieldOrder(Body):
    order: list[str]


class UniqueIn(Body):
    fields: list[str]


class RecordIn(Body):
    fields: dict[str, Any]


class RecordPatch(Body):
    fields: dict[str, Any]
    version: int | UnsetType = UNSET
    #: Why an admin loosens a restrictive field (kept in the history).
    reason: str | None = None


class UpsertIn(Body):
    match_on: list[str] | str
    fields: dict[str, Any]


class BulkIn(Body):
    items: list[Any]
    mode: str = "create"
    match_on: list[str] | str | None = None
    atomic: bool = True


class QueryIn(Body):
    filter: Any = None
    sort: str | None = None
    search: str | None = None
    limit: int = 25
    cursor: str | None = None
    deleted: str = "exclude"
    total: bool = False


class DedupeRuleIn(Body):
    rule: str
    #: Field keys in the rule's order; null skips a position (``contact``: name, email,
    #: phone, company).
    fields: list[str | None]
    on_create: str | UnsetType = UNSET
    on_update: str | UnsetType = UNSET
    merge_policy: dict[str, str] | UnsetType = UNSET
    threshold: float | UnsetType | None = UNSET
    #: Copy a tightened restrictive value to the other records with this key (checked by
    #: the service, which names what is wrong).
    propagate_restrictive: Any = UNSET


class DedupeRulePatch(Body):
    on_create: str | UnsetType = UNSET
    on_update: str | UnsetType = UNSET
    merge_policy: dict[str, str] | UnsetType = UNSET
    threshold: float | UnsetType | None = UNSET
    #: Copy a tightened restrictive value to the other records with this key (checked by
    #: the service, which names what is wrong).
    propagate_restrictive: Any = UNSET


class DedupeSpanIn(Body):
    rule: str
    #: Per type: {"type": id, "fields": [field keys in the rule's order], "on_create",
    #: "on_update"}.
    types: list[dict[str, Any]]


class DedupeSpanPatch(Body):
    types: list[dict[str, Any]]


class DuplicateCheckIn(Body):
    fields: dict[str, Any]
    record: int | None = None


class DecisionIn(Body):
    decision: str


class MergeIn(Body):
    survivor: int
    loser: int
    values: dict[str, Any] | None = None


class ImportRunIn(Body):
    mapping: dict[str, str | None]
    policy: str = "rules"
    match_on: str | None = None


class AutomationIn(Body):
    name: str
    record_type: int
    trigger: dict[str, Any]
    actions: list[Any]
    conditions: dict[str, Any] | None = None
    enabled: bool = True


class AutomationPatch(Body):
    name: str | UnsetType = UNSET
    record_type: int | UnsetType = UNSET
    trigger: dict[str, Any] | UnsetType = UNSET
    actions: list[Any] | UnsetType = UNSET
    conditions: dict[str, Any] | UnsetType | None = UNSET
    enabled: bool | UnsetType = UNSET


class DryRunIn(Body):
    record: int | None = None


class RunIdsIn(Body):
    runs: list[int]


class MailIn(Body):
    host: str
    from_address: str
    port: int = 587
    security: str = "starttls"
    username: str | None = None
    password: str | UnsetType | None = UNSET
