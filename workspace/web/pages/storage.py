"""The file storage page of a workspace (admins): choose a backend, test it, migrate to it,
watch the progress (htmx polling) and retire the old one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, get, post
from litestar.params import URLEncodedBody
from litestar.response import Template

from workspace.errors import WorkspaceError
from workspace.services import storage_migration, storage_settings
from workspace.web.pages.nav import workspace_context
from workspace.web.pages.session import RuntimeDep, UserDep

Form = URLEncodedBody[dict[str, Any]]
PAGE = "/w/{workspace_id:int}/settings/storage"


@dataclass(frozen=True)
class Input:
    key: str
    label: str
    kind: str = "text"  # text | number | secret
    hint: str = ""


#: The form of each built-in backend kind; a plugin's kind is configured through the API.
INPUTS = {
    "local": [
        Input(
            "path",
            "Folder",
            hint="Empty: this workspace's own folder on the server. Another folder must lie "
            "under one the server operator allows (WORKSPACE_STORAGE_LOCAL_ROOTS).",
        )
    ],
    "s3": [
        Input("endpoint_url", "Endpoint URL", hint="Empty for AWS; e.g. https://s3.example.com"),
        Input("bucket", "Bucket"),
        Input("region", "Region", hint="Default us-east-1"),
        Input("prefix", "Prefix", hint="Folder inside the bucket, e.g. workspace-files"),
        Input("access_key", "Access key ID"),
        Input("secret_key", "Secret access key", "secret"),
    ],
    "ftp": [
        Input("host", "Host"),
        Input("port", "Port", "number", hint="Default 21"),
        Input("user", "User"),
        Input("password", "Password", "secret"),
        Input("base_path", "Base path", hint="Folder on the server, e.g. /files"),
    ],
}
LABELS = {"local": "Local folder", "s3": "S3", "ftp": "FTP"}


def config_from_form(kind: str, form: dict[str, Any]) -> dict[str, Any]:
    """The settings typed into the form; numbers as numbers when they read as one (else
    the backend names the setting), blank ones left out."""
    config: dict[str, Any] = {}
    for item in INPUTS.get(kind, []):
        value = str(form.get(item.key, "")).strip()
        if not value:
            continue
        config[item.key] = int(value) if item.kind == "number" and value.isdigit() else value
    return config


class StoragePages(Controller):
    path = "/"

    @get(PAGE, sync_to_thread=True)
    def page(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, kind: str | None = None
    ) -> Template:
        return self._page(runtime, user, workspace_id, kind=kind)

    @post(PAGE + "/draft", sync_to_thread=True)
    def save(self, runtime: RuntimeDep, user: UserDep, workspace_id: int, data: Form) -> Template:
        acc, _ = workspace_context(runtime, user, workspace_id)
        kind = str(data.get("kind", ""))
        config = config_from_form(kind, data)
        try:
            if data.get("action") == "test":
                notice = storage_settings.test_connection(runtime, acc, kind, config)["message"]
            else:
                storage_settings.save_draft(runtime, acc, kind, config)
                notice = "Saved. Test the connection, then migrate."
        except WorkspaceError as exc:
            return self._page(runtime, user, workspace_id, kind=kind, form=data, error=exc)
        return self._page(runtime, user, workspace_id, kind=kind, notice=notice)

    @post(PAGE + "/migrate", sync_to_thread=True)
    def migrate(self, runtime: RuntimeDep, user: UserDep, workspace_id: int) -> Template:
        acc, _ = workspace_context(runtime, user, workspace_id)
        try:
            storage_migration.start(runtime, acc)
        except WorkspaceError as exc:
            return self._page(runtime, user, workspace_id, error=exc)
        return self._page(runtime, user, workspace_id, notice="The migration has started.")

    @get(PAGE + "/progress", sync_to_thread=True)
    def progress(self, runtime: RuntimeDep, user: UserDep, workspace_id: int) -> Template:
        """The progress box alone, polled by htmx while a migration runs."""
        acc, context = workspace_context(runtime, user, workspace_id)
        context["storage"] = storage_migration.overview(runtime, acc)
        return Template("storage/_progress.html", context=context)

    @post(PAGE + "/migrations/{migration_id:int}/retry", sync_to_thread=True)
    def retry(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, migration_id: int
    ) -> Template:
        acc, _ = workspace_context(runtime, user, workspace_id)
        try:
            storage_migration.retry(runtime, acc, migration_id)
        except WorkspaceError as exc:
            return self._page(runtime, user, workspace_id, error=exc)
        return self._page(runtime, user, workspace_id, notice="The migration carries on.")

    @post(PAGE + "/backends/{config_id:int}/retire", sync_to_thread=True)
    def retire(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, config_id: int
    ) -> Template:
        acc, _ = workspace_context(runtime, user, workspace_id)
        try:
            storage_settings.retire(runtime, acc, config_id)
        except WorkspaceError as exc:
            return self._page(runtime, user, workspace_id, error=exc)
        notice = "Retired: its files are no longer read from there, and were left in place."
        return self._page(runtime, user, workspace_id, notice=notice)

    def _page(
        self,
        runtime: Any,
        user: Any,
        workspace_id: int,
        *,
        kind: str | None = None,
        form: dict[str, Any] | None = None,
        error: WorkspaceError | None = None,
        notice: str | None = None,
    ) -> Template:
        acc, context = workspace_context(runtime, user, workspace_id)
        storage = storage_migration.overview(runtime, acc)
        draft = storage["draft"]
        kind = kind or (draft["kind"] if draft else "s3")
        if kind not in INPUTS:
            kind = "s3"
        values = form if form is not None else {}
        if form is None and draft and draft["kind"] == kind:
            values = draft["config"]
        context.update(
            storage=storage,
            kind=kind,
            kinds=[k for k in storage["kinds"] if k in INPUTS],
            labels=LABELS,
            inputs=INPUTS[kind],
            values=values,
            saved_secrets=draft["secrets_saved"] if draft and draft["kind"] == kind else [],
            errors=error.fields if error else {},
            error=error.message if error and not error.fields else None,
            notice=notice,
        )
        status = error.status if error else 200
        return Template("storage/page.html", context=context, status_code=status)
