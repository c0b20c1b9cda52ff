"""The extension points of automations: triggers and actions, as plugins register them
(``register_automation_triggers``, ``register_automation_actions``). The built-in ones live
in ``plugins/automation_*.py`` and register exactly like a third party's.

A trigger says which events start a run (``events``, ``matches``) or when time does
(``next_fire``, ``records_due``); an action does one step of a run through the
:class:`Step` it is given, which is the only way it touches the workspace: what it changes
there commits in the same transaction that marks the step done.
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol

import pluggy

from workspace.outbox import OutboxEvent
from workspace.plugin_calls import call_each
from workspace.registry import Registry
from workspace.schema.fields import FieldDef


class StepFailed(Exception):
    """A step cannot be done as configured (a bad value, a missing record): retried like any
    failure, and shown with the run."""


class RecordGone(StepFailed):
    """The run's record was deleted or merged away: the run stops (retrying cannot help)."""


class StepRefused(StepFailed):
    """The step cannot be done as configured (a webhook to a refused host): retrying cannot
    help, so the run goes to the dead letter at once, to be replayed once it is fixed."""


class Checks(Protocol):
    """What a trigger or action may check its config against when an automation is saved.
    Each method raises ``ValidationFailed`` naming ``where`` (e.g. ``actions[1].values.status``)."""

    record_type_id: int

    def only(self, config: Mapping[str, Any], allowed: set[str], where: str) -> None:
        """Refuse a config key that is not one of ``allowed``."""

    def field(self, key: Any, where: str) -> FieldDef: ...

    def relation(self, key: Any, where: str) -> FieldDef: ...

    def backlink(self, record_type_id: Any, key: Any, where: str) -> FieldDef: ...

    def values(
        self, values: Any, where: str, *, record_type_id: int | None = None
    ) -> dict[str, Any]: ...

    def template(self, value: Any, where: str) -> Any: ...

    def filter(self, tree: Any, where: str) -> Any: ...

    def integer(self, value: Any, where: str, *, low: int, high: int) -> int: ...

    def url(self, value: Any, where: str) -> str: ...

    def address(self, value: Any, where: str) -> str: ...

    def seal(self, secret: str) -> str:
        """``secret`` encrypted under the server key (stored in the config, never shown)."""
        ...

    def unseal(self, sealed: Any, where: str) -> str: ...


class Step(Protocol):
    """One step of a run as an action sees it. ``dry`` steps (a test run) compute what they
    would do and change nothing: the effect methods then return what they would write."""

    config: Mapping[str, Any]
    record: dict[str, Any] | None
    trigger: Mapping[str, Any]
    dry: bool
    #: The same for every attempt of this step: send it where a receiver can drop repeats.
    idempotency_key: str

    def render(self, value: Any) -> Any: ...

    def update_record(self, values: Mapping[str, Any]) -> dict[str, Any]: ...

    def related(
        self,
        values: Mapping[str, Any],
        *,
        relation: str | None = None,
        record_type_id: int | None = None,
        via: str | None = None,
        create: bool = False,
    ) -> dict[str, Any]: ...

    def upsert(self, record_type_id: int, values: Mapping[str, Any]) -> dict[str, Any]: ...

    def create_task(
        self, title: str, *, assignee: int | None, due: dt.date | None
    ) -> dict[str, Any]: ...

    def add_comment(self, text: str) -> dict[str, Any]: ...

    def matches(self, tree: Any) -> bool: ...

    def wait_until(self, when: dt.datetime) -> dict[str, Any]: ...

    def stop(self, reason: str) -> dict[str, Any]: ...

    def today(self) -> dt.date: ...

    def unseal(self, sealed: str) -> str: ...

    def send_email(self, to: str, subject: str, text: str) -> dict[str, Any]:
        """Send through the workspace's mail server, with a Message-ID made from the step's
        idempotency key (the same on every attempt)."""
        ...

    def post_json(self, url: str, payload: Any, *, secret: str | None) -> dict[str, Any]:
        """POST ``payload`` as JSON to ``url`` (SSRF-checked, 10 s timeout, redirects only
        within the site), with ``Idempotency-Key`` and, given a ``secret``, a signature."""
        ...


class Trigger:
    """What starts runs. Event triggers list the outbox kinds they listen to in ``events``
    and decide with ``matches``; time triggers return when they next fire; an ``inbound``
    trigger is fired by a post to the automation's secret address."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    events: ClassVar[tuple[str, ...]] = ()
    inbound: ClassVar[bool] = False

    def check(self, config: Mapping[str, Any], checks: Checks) -> dict[str, Any]:
        """The config cleaned (keys other than ``type`` are the trigger's own); by default
        a trigger has no settings."""
        checks.only(config, set(), "trigger")
        return {}

    def matches(self, config: Mapping[str, Any], event: OutboxEvent) -> bool:
        return event.kind in self.events

    def record_id(self, config: Mapping[str, Any], event: OutboxEvent) -> int | None:
        """The record the run is about."""
        return event.record_id

    def next_fire(
        self, config: Mapping[str, Any], after: dt.datetime, zone: dt.tzinfo
    ) -> dt.datetime | None:
        """For time triggers: the first moment after ``after`` it fires (aware UTC)."""
        return None

    def records_due(self, config: Mapping[str, Any], fired_at: dt.datetime, zone: dt.tzinfo) -> Any:
        """For time triggers: a filter (the records API's language) of the records a firing
        runs on, ANDed with the automation's conditions; None means every record."""
        return None


class Action:
    """One kind of step. ``run(step)`` does it and returns what the run log shows as its
    output; raising fails the step (retried with backoff, then the run is dead)."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""

    def check(self, config: Mapping[str, Any], checks: Checks, where: str) -> dict[str, Any]:
        """The config cleaned; ``where`` names this step in errors (``actions[2]``)."""
        return {}

    def run(self, step: Step) -> dict[str, Any] | None:
        raise NotImplementedError


class TriggerRegistry(Registry[Trigger]):
    kind = "automation trigger"


class ActionRegistry(Registry[Action]):
    kind = "automation action"


class Registries:
    def __init__(self) -> None:
        self.triggers = TriggerRegistry()
        self.actions = ActionRegistry()

    def triggers_for(self, kind: str) -> list[str]:
        """Names of the triggers that listen to outbox events of ``kind``."""
        return [n for n in self.triggers.names() if kind in self.triggers.get(n).events]


_built: weakref.WeakKeyDictionary[pluggy.PluginManager, Registries] = weakref.WeakKeyDictionary()


def registries(pm: pluggy.PluginManager) -> Registries:
    """Triggers and actions of ``pm``'s plugins, collected once per plugin manager."""
    found = _built.get(pm)
    if found is None:
        found = Registries()
        for _ in call_each(pm.hook.register_automation_triggers, register=found.triggers.register):
            pass
        for _ in call_each(pm.hook.register_automation_actions, register=found.actions.register):
            pass
        _built[pm] = found
    return found


#: For type checkers: a function that registers a trigger or action class.
Register = Callable[[type[Any]], None]
