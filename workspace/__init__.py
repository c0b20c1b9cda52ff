"""Workspace server. This module is the public API for plugin authors; import from here.

Plugins (built-in ones in ``plugins/`` and ``storage_backends/`` included) use only these
names, so internals can move without breaking them.
"""

from storage_backends import (
    ObjectInfo,
    ObjectNotFound,
    StorageBackend,
    StorageError,
    check_name,
    check_prefix,
    explain_error,
    is_name,
    storage_errors,
)
from workspace.automations.kinds import (
    Action,
    Checks,
    RecordGone,
    Step,
    StepFailed,
    StepRefused,
    Trigger,
)
from workspace.errors import ValidationFailed
from workspace.events import (
    Event,
    RecordCreated,
    RecordDeleted,
    RecordEvent,
    RecordRestored,
    RecordTypeChanged,
    RecordUpdated,
)
from workspace.hookspecs import hookimpl
from workspace.identity import InvalidEmail, account_email
from workspace.jobs.kinds import Job, JobKind, PeriodicTask, exponential
from workspace.matching import DedupeRule, RuleContext, Score
from workspace.outbox import OutboxEvent
from workspace.schema.coltypes import ExactDecimal, UtcDateTime, exact_string, long_text
from workspace.schema.fields import (
    ConfigContext,
    FieldDef,
    FieldError,
    FieldType,
    Lookup,
    TextLike,
    ValueContext,
    compare,
    fold,
    like_filter,
    list_operand,
    pair_operand,
    type_name,
)

__all__ = [
    "Action",
    "Checks",
    "ConfigContext",
    "DedupeRule",
    "Event",
    "ExactDecimal",
    "FieldDef",
    "FieldError",
    "FieldType",
    "InvalidEmail",
    "Job",
    "JobKind",
    "Lookup",
    "ObjectInfo",
    "ObjectNotFound",
    "OutboxEvent",
    "PeriodicTask",
    "RecordCreated",
    "RecordDeleted",
    "RecordEvent",
    "RecordGone",
    "RecordRestored",
    "RecordTypeChanged",
    "RecordUpdated",
    "RuleContext",
    "Score",
    "Step",
    "StepFailed",
    "StepRefused",
    "StorageBackend",
    "StorageError",
    "TextLike",
    "Trigger",
    "UtcDateTime",
    "ValidationFailed",
    "ValueContext",
    "account_email",
    "check_name",
    "check_prefix",
    "compare",
    "exact_string",
    "explain_error",
    "exponential",
    "fold",
    "hookimpl",
    "is_name",
    "like_filter",
    "list_operand",
    "long_text",
    "pair_operand",
    "storage_errors",
    "type_name",
]
