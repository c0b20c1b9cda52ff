"""The file storage page of a workspace (admins): choose a backend, test it, migrate to it,
watch the progress (htmx polling) and retire the old one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from litestar import Controller, get, post
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Response, Template

from workspace.errors import WorkspaceError
from workspace.storage import configs
from workspace.storage import migration as storage_migration
from workspace.web.nav import workspace_context
from workspace.web.session import RuntimeDep, UserDep

Form = URLEncodedBody[dict[str, Any]]
PAGE = "/w/{workspace_id:int}/settings/storage"


@dataclass(frozen=True)
class Input:
    key: str
    label: str
    kind: str = "text"  # text | number | secret | check | pem
    hint: str = ""


#: The form of each built-in backend kind, in the order of the tabs; a plugin's kind is
#: configured through the API.
INPUTS = {
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
        Input("tls", "Use TLS (FTPS)", "check", hint="Explicit AUTH TLS, data connections too"),
        Input(
            "ca_cert",
            "Trusted CA certificate",
            "pem",
            hint="PEM, for a server whose certificate no public authority signed; needs TLS",
        ),
    ],
    "local": [
        Input(
            "path",
            "Folder",
            hint="Empty: this workspace's own folder on the server. Another folder must lie "
            "under one the server operator allows (WORKSPACE_STORAGE_LOCAL_ROOTS).",
        )
    ],
}
LABELS = {"local": "Local folder", "s3": "S3", "ftp": "FTP"}


def config_from_form(kind: str, form: dict[str, Any]) -> dict[str, Any]:
    """The settings typed into the form; numbers as numbers when they read as one (else
    the backend names the setting), blank ones left out."""
    config: dict[str, Any] = {}
    for item in INPUTS.get(kind, []):
        value = str(form.get(item.key, "")).strip()
        if item.kind == "check":
            config[item.key] = bool(value)
        elif value:
            config[item.key] = int(value) if item.kind == "number" and value.isdigit() else value
    return config


#: What a successful form post says on the page it redirects to (``?done=<key>``).
NOTICES = {
    "saved": "Saved. Test the connection, then migrate.",
    "tested": "Test connection to {draft} worked; the settings are saved.",
    "started": "The migration has started.",
    "retried": "The migration carries on from where it stopped.",
    "abandoned": "Given up: the old backend takes new files again.",
    "retired": "Retired: files are no longer read from there, and were left in place.",
}


class StoragePages(Controller):
    """Forms post, then redirect (303) to the page, so a reload never posts again."""

    path = "/"

    @get(PAGE, sync_to_thread=True)
    def page(
        self,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        kind: str | None = None,
        done: str | None = None,
    ) -> Template:
        return self._page(runtime, user, workspace_id, kind=kind, done=done)

    @post(PAGE + "/draft", sync_to_thread=True)
    def save(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, data: Form
    ) -> Response[Any]:
        acc, _ = workspace_context(runtime, user, workspace_id)
        kind = str(data.get("kind", ""))
        config = config_from_form(kind, data)
        testing = data.get("action") == "test"
        try:
            if testing:
                configs.test_connection(runtime, acc, kind, config)
            else:
                configs.save_draft(runtime, acc, kind, config)
        except WorkspaceError as exc:
            return self._page(runtime, user, workspace_id, kind=kind, form=data, error=exc)
        return _back(workspace_id, "tested" if testing else "saved", kind)

    @post(PAGE + "/migrate", sync_to_thread=True)
    def migrate(self, runtime: RuntimeDep, user: UserDep, workspace_id: int) -> Response[Any]:
        acc, _ = workspace_context(runtime, user, workspace_id)
        return self._act(runtime, user, workspace_id, "started", storage_migration.start, acc)

    @get(PAGE + "/progress", sync_to_thread=True)
    def progress(self, runtime: RuntimeDep, user: UserDep, workspace_id: int) -> Template:
        """The progress box alone, polled by htmx while a migration runs."""
        acc, context = workspace_context(runtime, user, workspace_id)
        context["storage"] = storage_migration.overview(runtime, acc)
        return Template("storage/_progress.html", context=context)

    @post(PAGE + "/migrations/{migration_id:int}/retry", sync_to_thread=True)
    def retry(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, migration_id: int
    ) -> Response[Any]:
        acc, _ = workspace_context(runtime, user, workspace_id)
        retry = storage_migration.retry
        return self._act(runtime, user, workspace_id, "retried", retry, acc, migration_id)

    @post(PAGE + "/migrations/{migration_id:int}/abandon", sync_to_thread=True)
    def abandon(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, migration_id: int
    ) -> Response[Any]:
        acc, _ = workspace_context(runtime, user, workspace_id)
        abandon = storage_migration.abandon
        return self._act(runtime, user, workspace_id, "abandoned", abandon, acc, migration_id)

    @post(PAGE + "/backends/{config_id:int}/retire", sync_to_thread=True)
    def retire(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, config_id: int
    ) -> Response[Any]:
        acc, _ = workspace_context(runtime, user, workspace_id)
        retire = configs.retire
        return self._act(runtime, user, workspace_id, "retired", retire, acc, config_id)

    def _act(
        self,
        runtime: Any,
        user: Any,
        workspace_id: int,
        done: str,
        action: Callable[..., Any],
        *args: Any,
    ) -> Response[Any]:
        try:
            action(runtime, *args)
        except WorkspaceError as exc:
            return self._page(runtime, user, workspace_id, error=exc)
        return _back(workspace_id, done)

    def _page(
        self,
        runtime: Any,
        user: Any,
        workspace_id: int,
        *,
        kind: str | None = None,
        form: dict[str, Any] | None = None,
        error: WorkspaceError | None = None,
        done: str | None = None,
    ) -> Template:
        acc, context = workspace_context(runtime, user, workspace_id)
        storage = storage_migration.overview(runtime, acc)
        draft = storage["draft"]
        kind = kind or (draft["kind"] if draft else "s3")
        if kind not in INPUTS:
            kind = "s3"
        where = draft["location"] if draft else "the new backend"
        notice = NOTICES[done].format(draft=where) if done in NOTICES else None
        values = form if form is not None else {}
        if form is None and draft and draft["kind"] == kind:
            values = draft["config"]
        context.update(
            storage=storage,
            kind=kind,
            kinds=[k for k in INPUTS if k in storage["kinds"]],
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


def _back(workspace_id: int, done: str, kind: str | None = None) -> Redirect:
    query = f"?done={done}" + (f"&kind={kind}" if kind in INPUTS else "")
    return Redirect(f"/w/{workspace_id}/settings/storage{query}", status_code=303)
