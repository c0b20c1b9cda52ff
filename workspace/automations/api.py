"""Automations for API clients: definitions, test runs, the run log and its dead letter;
and the public address of inbound-webhook triggers."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post, put
from litestar.params import JSONBody, QueryParameter, RawBody

from workspace.access import workspaces
from workspace.automations import automations, dry_runs, inbound, mail, runs
from workspace.web.api_deps import PrincipalDep, RuntimeDep
from workspace.web.bodies import AutomationIn, AutomationPatch, DryRunIn, MailIn, RunIdsIn


class AutomationController(Controller):
    path = "/workspaces/{workspace_id:int}/automations"
    tags = ["automations"]

    @get("/", sync_to_thread=True)
    def list_automations(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        record_type: int | None = None,
    ) -> list[dict[str, Any]]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return automations.list_automations(runtime, acc, record_type_id=record_type)

    @post("/", sync_to_thread=True)
    def create(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        data: JSONBody[AutomationIn],
    ) -> dict[str, Any]:
        """One trigger (``{"type": "record_updated", "to": {"status": "Customer"}}``),
        optional conditions (``{"filter": <records filter>, "changed": [{"field", "from",
        "to"}]}``) and an ordered list of actions (``[{"type": "set_fields", "values":
        {...}}]``). Refused with 422 naming the step and field when anything is unknown,
        missing or invalid (templates included). Needs the admin role."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return automations.create(runtime, acc, data.sent())

    @get("/{automation_id:int}", sync_to_thread=True)
    def get_automation(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, automation_id: int
    ) -> dict[str, Any]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return automations.get(runtime, acc, automation_id)

    @patch("/{automation_id:int}", sync_to_thread=True)
    def change(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        automation_id: int,
        data: JSONBody[AutomationPatch],
    ) -> dict[str, Any]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return automations.update_automation(runtime, acc, automation_id, data.sent())

    @delete("/{automation_id:int}", sync_to_thread=True)
    def delete_automation(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, automation_id: int
    ) -> None:
        acc = workspaces.access(runtime, principal, workspace_id)
        automations.delete_automation(runtime, acc, automation_id)

    @post("/{automation_id:int}/enable", sync_to_thread=True, status_code=200)
    def enable(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, automation_id: int
    ) -> dict[str, Any]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return automations.set_enabled(runtime, acc, automation_id, True)

    @post("/{automation_id:int}/disable", sync_to_thread=True, status_code=200)
    def disable(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, automation_id: int
    ) -> dict[str, Any]:
        acc = workspaces.access(runtime, principal, workspace_id)
        return automations.set_enabled(runtime, acc, automation_id, False)

    @post("/{automation_id:int}/duplicate", sync_to_thread=True)
    def duplicate(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, automation_id: int
    ) -> dict[str, Any]:
        """A copy, turned off."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return automations.duplicate(runtime, acc, automation_id)

    @post("/{automation_id:int}/dry-run", sync_to_thread=True, status_code=200)
    def dry_run(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        automation_id: int,
        data: JSONBody[DryRunIn],
    ) -> dict[str, Any]:
        """What each step would do on ``record``, with nothing done."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return dry_runs.rehearse(runtime, acc, automation_id, data.record)

    @get("/mail", sync_to_thread=True)
    def get_mail(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int
    ) -> dict[str, Any]:
        """The SMTP server the workspace's email actions send through (no password)."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return mail.get_settings(runtime, acc)

    @put("/mail", sync_to_thread=True)
    def set_mail(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        data: JSONBody[MailIn],
    ) -> dict[str, Any]:
        """Set the SMTP server (``security``: starttls, tls or none). The password is sealed
        and never shown again; leave it out to keep the one kept."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return mail.set_settings(runtime, acc, data.sent())

    @get("/runs", sync_to_thread=True)
    def list_runs(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        automation: int | None = None,
        record_type: int | None = None,
        record: int | None = None,
        run_state: Annotated[str | None, QueryParameter(name="state")] = None,
        limit: int = 50,
        before: int | None = None,
    ) -> dict[str, Any]:
        """Runs newest first: of one automation, of one record (``record_type`` and
        ``record``), or in one state (``state=dead`` is the dead letter)."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return runs.list_runs(
            runtime,
            acc,
            automation_id=automation,
            record_type_id=record_type,
            record_id=record,
            state=run_state,
            limit=limit,
            before=before,
        )

    @get("/runs/{run_id:int}", sync_to_thread=True)
    def get_run(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, run_id: int
    ) -> dict[str, Any]:
        """A run with each step's input, output or error, timing and attempt."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return runs.get_run(runtime, acc, run_id)

    @post("/runs/replay", sync_to_thread=True, status_code=200)
    def replay(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        data: JSONBody[RunIdsIn],
    ) -> dict[str, Any]:
        """Run dead runs again from the step that failed."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return {"replayed": runs.replay(runtime, acc, data.runs)}

    @post("/runs/dismiss", sync_to_thread=True, status_code=200)
    def dismiss(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        data: JSONBody[RunIdsIn],
    ) -> dict[str, Any]:
        """Set dead runs aside (they stay in the log)."""
        acc = workspaces.access(runtime, principal, workspace_id)
        return {"dismissed": runs.dismiss(runtime, acc, data.runs)}


class HookController(Controller):
    """The public address of inbound-webhook triggers: no token, the secret is the key."""

    path = "/hooks/automations"
    tags = ["automations"]

    @post("/{secret:str}", sync_to_thread=True, status_code=202)
    def receive(
        self, request: Request[Any, Any, Any], runtime: RuntimeDep, secret: str, body: RawBody
    ) -> dict[str, Any]:
        """Start a run of the automation with this JSON body as ``trigger.payload``. Every
        post is kept with its outcome, except those over the rate limits (429)."""
        client = request.client.host if request.client else "unknown"
        return inbound.receive(runtime, secret, body, client)
