"""Public forms for API clients: the workspace's forms and what each one received."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get

from workspace.access import workspaces
from workspace.forms import forms
from workspace.forms import submissions as form_submissions
from workspace.web.api_deps import PrincipalDep, RuntimeDep


class FormController(Controller):
    path = "/workspaces/{workspace_id:int}/forms"
    tags = ["forms"]

    @get("/", sync_to_thread=True)
    def list_forms(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int
    ) -> list[dict[str, Any]]:
        """The workspace's public forms (``path`` is the public address) with their number
        of submissions."""
        return forms.list_forms(runtime, workspaces.access(runtime, principal, workspace_id))

    @get("/{form_id:int}", sync_to_thread=True)
    def get_form(
        self, runtime: RuntimeDep, principal: PrincipalDep, workspace_id: int, form_id: int
    ) -> dict[str, Any]:
        return forms.get_form(runtime, workspaces.access(runtime, principal, workspace_id), form_id)

    @get("/{form_id:int}/submissions", sync_to_thread=True)
    def list_submissions(
        self,
        runtime: RuntimeDep,
        principal: PrincipalDep,
        workspace_id: int,
        form_id: int,
        outcome: str | None = None,
        limit: int = 50,
        before: int | None = None,
    ) -> dict[str, Any]:
        """Every post the form received, newest first, with its outcome (created, updated,
        refused, rejected, spam, replay, failed, or received while being decided), the record
        and the reason. ``next_before`` pages further back."""
        acc = workspaces.access(runtime, principal, workspace_id)
        forms.get_form(runtime, acc, form_id)
        return form_submissions.list_submissions(
            runtime, acc, form_id, outcome=outcome, limit=limit, before=before
        )
