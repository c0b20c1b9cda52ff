"""The step an action is given: the record, the trigger, templates, and the effects an
action may have on the workspace, each through the ordinary service (so validation, dedupe,
ownership and the activity history apply) and each committed with the step's log line.

Changes are made as the automation's maker with source ``automation`` and source_ref
``automation:<id>``, carrying the chain of runs behind them (the loop guard). A dry step
(a test run) changes nothing and says what it would have done.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import smtplib
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Connection

from workspace import activity, outbound
from workspace.automations import checks, conditions, mail, steps, templates
from workspace.automations.kinds import RecordGone, StepFailed, StepRefused
from workspace.db import Tx
from workspace.net import HostRefused
from workspace.principal import Access
from workspace.records import records
from workspace.records.match_keys import policy_override
from workspace.records.write_items import Outcome
from workspace.runtime import Runtime
from workspace.schema.tables import RecordTypeDef
from workspace.types import record_types
from workspace.work import comments, tasks

#: Records one "related records" step may update at once.
RELATED_MAX = 200
#: An outbound webhook's receiver answers within this, or the attempt fails (and retries).
WEBHOOK_SECONDS = 10.0
WEBHOOK_TIMEOUT = httpx.Timeout(WEBHOOK_SECONDS)


class StepContext:
    def __init__(
        self,
        runtime: Runtime,
        acc: Access,
        rt: RecordTypeDef,
        *,
        config: Mapping[str, Any],
        record: dict[str, Any] | None,
        names: dict[str, Any],
        place: steps.Place | None,
        zone: dt.tzinfo,
    ) -> None:
        self.runtime, self.acc, self.rt = runtime, acc, rt
        self.config, self.record, self.names = config, record, names
        self.trigger: Mapping[str, Any] = names["trigger"]
        self.place, self.zone = place, zone
        self.dry = place is None
        #: Set once the step's log line is committed with an effect; "waiting"/"stopped"
        #: when the run should not go on now.
        self.committed = False
        self.ends: str | None = None
        self.idempotency_key = (
            f"automation-run-{place.run_id}-step-{place.position}" if place else "dry-run"
        )

    # ---- what actions read ---------------------------------------------------------------

    def render(self, value: Any) -> Any:
        return templates.render(value, self.names)

    def today(self) -> dt.date:
        return dt.datetime.now(self.zone).date()

    def matches(self, tree: Any) -> bool:
        record_id = self.record["id"] if self.record else None
        return conditions.record_matches(self.runtime, self.acc, self.rt, record_id, tree)

    def _record_id(self) -> int:
        if self.record is None:
            raise StepFailed("this step needs a record, and this run has none")
        if "deleted_at" in self.record:
            raise RecordGone(f"record {self.record['id']} is deleted (or merged into another)")
        return int(self.record["id"])

    # ---- effects ---------------------------------------------------------------------------

    def _after_tx(self, output: dict[str, Any]) -> Any:
        def after(tx: Tx, outcomes: list[Outcome]) -> None:
            self._commit(tx.control, {**output, **_outcomes(outcomes)})

        return after

    def _after_conn(self, output: dict[str, Any]) -> Any:
        return lambda conn: self._commit(conn, output)

    def _commit(self, conn: Connection, output: dict[str, Any]) -> None:
        assert self.place is not None
        steps.done(conn, self.place, output, ends=self.ends)

    def update_record(self, values: Mapping[str, Any]) -> dict[str, Any]:
        record_id = self._record_id()
        rendered = self.render(dict(values))
        if self.dry:
            return {"would_update": record_id, "values": rendered}
        output = {"updated": record_id, "values": rendered}
        records.update_record(
            self.runtime, self.acc, self.rt, record_id, rendered, after=self._after_tx(output)
        )
        self.committed = True
        return output

    def upsert(self, record_type_id: int, values: Mapping[str, Any]) -> dict[str, Any]:
        """Create a record of ``record_type_id``, or update the one its dedupe rules match."""
        target = record_types.get_type(self.runtime, self.acc, record_type_id)
        rendered = self.render(dict(values))
        if self.dry:
            return {"would_create_or_update": target.name, "values": rendered}
        output = {"record_type": target.id, "values": rendered}
        made = records.create(
            self.runtime,
            self.acc,
            target,
            rendered,
            override=policy_override("update"),
            after=self._after_tx(output),
        )
        self.committed = True
        return {**output, "record": made.get("merged_into", made["id"])}

    def related(
        self,
        values: Mapping[str, Any],
        *,
        relation: str | None = None,
        record_type_id: int | None = None,
        via: str | None = None,
        create: bool = False,
    ) -> dict[str, Any]:
        """Update the records this one links to through ``relation``, or those of
        ``record_type_id`` whose relation ``via`` links to this one; with ``create`` and none
        linked, create one (through dedupe: one on file is updated instead) linked to it."""
        record_id = self._record_id()
        rendered = self.render(dict(values))
        if relation is not None:
            f = self.rt.field_by_key(relation)
            if f is None:
                raise StepFailed(f"no relation field {relation!r} any more")
            target = record_types.get_type(self.runtime, self.acc, int(f.config["target"]))
            ids = list((self.record or {}).get("fields", {}).get(relation) or [])
        else:
            assert record_type_id is not None and via is not None
            target = record_types.get_type(self.runtime, self.acc, record_type_id)
            found = records.list_records(
                self.runtime,
                self.acc,
                target,
                filter={"field": via, "op": "eq", "value": record_id},
                limit=RELATED_MAX,
            )
            ids = [r["id"] for r in found["items"]]
        if not ids and create and via is not None:
            return self._create_linked(target, {**rendered, via: [record_id]})
        if self.dry:
            return {"would_update": ids, "record_type": target.id, "values": rendered}
        if not ids:
            return {"updated": [], "record_type": target.id}
        output = {"updated": ids, "record_type": target.id, "values": rendered}
        items = [{"id": i, "fields": rendered} for i in ids]
        result = records.bulk(
            self.runtime, self.acc, target, items, mode="update", after=self._after_tx(output)
        )
        if not result["written"]:
            errors = [r["error"]["message"] for r in result["results"] if r.get("error")]
            raise StepFailed("; ".join(errors) or "the related records were not written")
        self.committed = True
        return output

    def _create_linked(self, target: RecordTypeDef, values: dict[str, Any]) -> dict[str, Any]:
        if self.dry:
            return {"would_create": target.name, "values": values}
        output = {"record_type": target.id, "values": values}
        made = records.create(
            self.runtime,
            self.acc,
            target,
            values,
            override=policy_override("update"),
            after=self._after_tx(output),
        )
        self.committed = True
        return {**output, "record": made.get("merged_into", made["id"])}

    def create_task(
        self, title: str, *, assignee: int | None, due: dt.date | None
    ) -> dict[str, Any]:
        record_id = self._record_id()
        values: dict[str, Any] = {"title": title, "assignee": assignee}
        if due is not None:
            values["due"] = due.isoformat()
        if self.dry:
            return {"would_create_task": values, "record": record_id}
        output = {"task": values, "record": record_id}
        made = tasks.create(
            self.runtime, self.acc, self.rt, record_id, values, after=self._after_conn(output)
        )
        self.committed = True
        return {**output, "task_id": made["id"]}

    def add_comment(self, text: str) -> dict[str, Any]:
        record_id = self._record_id()
        if self.dry:
            return {"would_comment": text, "record": record_id}
        output = {"comment": text, "record": record_id}
        made = comments.add(
            self.runtime, self.acc, self.rt, record_id, text, after=self._after_conn(output)
        )
        self.committed = True
        return {**output, "comment_id": made["id"]}

    # ---- outside the workspace (at least once, with an idempotency key) -------------------

    def unseal(self, sealed: str) -> str:
        return checks.unseal(self.runtime, sealed)

    def post_json(self, url: str, payload: Any, *, secret: str | None) -> dict[str, Any]:
        body = json.dumps(activity.jsonable(payload), separators=(",", ":")).encode()
        if self.dry:
            return {"would_post": url, "body": json.loads(body)}
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": self.idempotency_key,
            "X-Workspace-Timestamp": stamp,
        }
        if secret:
            signed = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
            headers["X-Workspace-Signature"] = "sha256=" + signed.hexdigest()
        host = urlsplit(url).hostname
        allow = self.runtime.settings.allow_private_hosts
        try:
            with outbound.client(allow_private=allow, timeout=WEBHOOK_TIMEOUT) as http:
                answer = outbound.fetch(http, "POST", url, content=body, headers=headers)
        except (HostRefused, outbound.RedirectRefused) as exc:
            raise StepRefused(f"{url}: {exc}") from None
        except httpx.TimeoutException:
            raise StepFailed(f"{host} did not answer within {WEBHOOK_SECONDS:g} s") from None
        except httpx.HTTPError as exc:
            raise StepFailed(f"{host}: {type(exc).__name__}: {exc}") from None
        if answer.status_code >= 400:
            raise StepFailed(f"{host} answered {answer.status_code}: {answer.text[:200]}")
        return {"posted": url, "status": answer.status_code, "answer": answer.text[:500]}

    def send_email(self, to: str, subject: str, text: str) -> dict[str, Any]:
        if self.dry:
            return {"would_send_to": to, "subject": subject, "text": text}
        try:
            return mail.send(
                self.runtime,
                self.acc.workspace_id,
                to=to,
                subject=subject,
                text=text,
                key=self.idempotency_key,
            )
        except (LookupError, HostRefused) as exc:
            raise StepRefused(str(exc)) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise StepFailed(f"the mail server: {type(exc).__name__}: {exc}") from None

    # ---- the run's course ----------------------------------------------------------------

    def wait_until(self, when: dt.datetime) -> dict[str, Any]:
        """Go on with the next step at ``when`` (a durable wait: the job is put back)."""
        if self.dry:
            return {"would_wait_until": when.isoformat()}
        self.ends = "waiting"
        return {"until": when.isoformat()}

    def stop(self, reason: str) -> dict[str, Any]:
        """End the run here, on purpose."""
        if self.dry:
            return {"would_stop": reason}
        self.ends = "stopped"
        return {"stopped": reason}


def _outcomes(outcomes: list[Outcome]) -> dict[str, Any]:
    statuses = [o.status for o in outcomes]
    return {"status": statuses[0] if len(statuses) == 1 else statuses}
