"""The built-in triggers of automations: record events, form submissions, queued
duplicates, a date field reached, a schedule, and an inbound webhook."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from cronsim import CronSim, CronSimError

from workspace import Checks, OutboxEvent, Trigger, ValidationFailed, hookimpl

FORM_OUTCOMES = ("created", "updated", "refused", "rejected", "spam", "replay")
TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _keys(value: Any, checks: Checks, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationFailed.single(where, "must be a list of field keys")
    return [checks.field(key, f"{where}[{i}]").key for i, key in enumerate(value)]


class RecordCreated(Trigger):
    name = "record_created"
    label = "A record is created"
    events = ("record.created",)


class RecordUpdated(Trigger):
    """Optionally only when one of ``fields`` changes, and/or a field changes ``to`` a
    value (``{"status": "Customer"}``: Status becomes Customer)."""

    name = "record_updated"
    label = "A record is updated"
    events = ("record.updated",)

    def check(self, config: Mapping[str, Any], checks: Checks) -> dict[str, Any]:
        checks.only(config, {"fields", "to"}, "trigger")
        fields = _keys(config.get("fields"), checks, "trigger.fields")
        to = config.get("to") or {}
        if not isinstance(to, Mapping):
            raise ValidationFailed.single("trigger.to", "must be an object of field key -> value")
        for key in to:
            checks.field(key, f"trigger.to.{key}")
        return {"fields": fields, "to": dict(to)}

    def matches(self, config: Mapping[str, Any], event: OutboxEvent) -> bool:
        if event.kind != "record.updated":
            return False
        fields = config.get("fields") or []
        if fields and not any(event.changed(key) for key in fields):
            return False
        for key, value in (config.get("to") or {}).items():
            change = event.changed(key)
            if change is None or change.get("new") != value:
                return False
        return True


class RecordDeleted(Trigger):
    name = "record_deleted"
    label = "A record is deleted"
    events = ("record.deleted",)


class RecordsMerged(Trigger):
    """Runs on the survivor; the loser's id is ``trigger.data.loser_id``."""

    name = "records_merged"
    label = "Two records are merged"
    events = ("record.merged",)


class FormSubmitted(Trigger):
    """A public form of the type got a post, optionally only one ``form`` and only some
    ``outcomes`` (created, updated: matched a record on file, refused...)."""

    name = "form_submitted"
    label = "A form is submitted"
    events = ("form.submitted",)

    def check(self, config: Mapping[str, Any], checks: Checks) -> dict[str, Any]:
        checks.only(config, {"form", "outcomes"}, "trigger")
        form = config.get("form")
        if form is not None and (isinstance(form, bool) or not isinstance(form, int)):
            raise ValidationFailed.single("trigger.form", "must be a form id")
        outcomes = config.get("outcomes") or []
        if not isinstance(outcomes, list) or set(outcomes) - set(FORM_OUTCOMES):
            allowed = ", ".join(FORM_OUTCOMES)
            raise ValidationFailed.single("trigger.outcomes", f"must be a list of: {allowed}")
        return {"form": form, "outcomes": outcomes}

    def matches(self, config: Mapping[str, Any], event: OutboxEvent) -> bool:
        if event.kind != "form.submitted":
            return False
        if config.get("form") is not None and event.data.get("form_id") != config["form"]:
            return False
        outcomes = config.get("outcomes") or []
        return not outcomes or event.data.get("outcome") in outcomes


class DuplicateQueued(Trigger):
    """Runs on the newer record of the pair; ``trigger.data`` has the pair."""

    name = "duplicate_queued"
    label = "A possible duplicate is queued for review"
    events = ("duplicate.queued",)


class DateReached(Trigger):
    """Every day at ``time`` (workspace time zone): each record whose date ``field`` is
    today (or ``days_before`` days from today: a reminder ahead)."""

    name = "date_reached"
    label = "A date field is reached"

    def check(self, config: Mapping[str, Any], checks: Checks) -> dict[str, Any]:
        checks.only(config, {"field", "time", "days_before"}, "trigger")
        f = checks.field(config.get("field"), "trigger.field")
        if f.type.name != "date":
            raise ValidationFailed.single("trigger.field", f"{f.key} is not a date field")
        time = config.get("time", "09:00")
        if not isinstance(time, str) or not TIME_OF_DAY.match(time):
            raise ValidationFailed.single("trigger.time", "must be a time of day such as 09:00")
        days = checks.integer(config.get("days_before", 0), "trigger.days_before", low=0, high=365)
        return {"field": f.key, "time": time, "days_before": days}

    def next_fire(
        self, config: Mapping[str, Any], after: dt.datetime, zone: dt.tzinfo
    ) -> dt.datetime | None:
        hour, minute = (int(p) for p in config["time"].split(":"))
        local = after.astimezone(zone)
        candidate = dt.datetime.combine(local.date(), dt.time(hour, minute), zone)
        if candidate <= local:
            candidate = dt.datetime.combine(
                local.date() + dt.timedelta(days=1), dt.time(hour, minute), zone
            )
        return candidate.astimezone(dt.UTC)

    def records_due(self, config: Mapping[str, Any], fired_at: dt.datetime, zone: dt.tzinfo) -> Any:
        day = fired_at.astimezone(zone).date() + dt.timedelta(days=config["days_before"])
        return {"field": config["field"], "op": "eq", "value": day.isoformat()}


class Schedule(Trigger):
    """A cron expression in the workspace's time zone (``0 9 * * 1-5``: weekdays at nine);
    each firing runs on every record the conditions' filter lets through."""

    name = "schedule"
    label = "On a schedule"

    def check(self, config: Mapping[str, Any], checks: Checks) -> dict[str, Any]:
        checks.only(config, {"cron"}, "trigger")
        cron = config.get("cron")
        if not isinstance(cron, str):
            raise ValidationFailed.single("trigger.cron", "must be a cron expression")
        try:
            CronSim(cron, dt.datetime.now(dt.UTC))
        except CronSimError as exc:
            raise ValidationFailed.single(
                "trigger.cron", f"invalid cron expression: {exc}"
            ) from None
        return {"cron": " ".join(cron.split())}

    def next_fire(
        self, config: Mapping[str, Any], after: dt.datetime, zone: dt.tzinfo
    ) -> dt.datetime | None:
        following: dt.datetime = next(CronSim(config["cron"], after.astimezone(zone)))
        return following.astimezone(dt.UTC)


class InboundWebhook(Trigger):
    """A post to the automation's secret address (``hook_path``); the JSON body is
    ``trigger.payload``. Runs have no record: their steps create or update records."""

    name = "webhook"
    label = "An inbound webhook is received"
    inbound = True


@hookimpl
def register_automation_triggers(register: Any) -> None:
    for trigger in (
        RecordCreated,
        RecordUpdated,
        RecordDeleted,
        RecordsMerged,
        FormSubmitted,
        DuplicateQueued,
        DateReached,
        Schedule,
        InboundWebhook,
    ):
        register(trigger)
