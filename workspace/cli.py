"""The ``workspace`` command line."""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading

import click

from workspace import migrate as migrations
from workspace.access import auth, users, workspaces
from workspace.boot import build_runtime
from workspace.connectors import engine as sync_engine
from workspace.databases import moves as data_moves
from workspace.dedupe import queue as duplicates
from workspace.errors import WorkspaceError
from workspace.files import files
from workspace.forms import submissions as form_submissions
from workspace.jobs import worker as jobs_worker
from workspace.plugin_calls import call_each
from workspace.plugins import make_plugin_manager
from workspace.principal import Principal
from workspace.runtime import Runtime
from workspace.schema import definitions
from workspace.settings import Settings
from workspace.storage import copier
from workspace.storage import migration as storage_migration
from workspace.web.connection_guard import ConnectionGuard


def _runtime() -> Runtime:
    return build_runtime(Settings.from_env())


@click.group()
def cli() -> None:
    """Workspace server: one trustworthy customer record instead of five drifting copies.

    Configure with WORKSPACE_* environment variables (see the README); with none set, data
    lives in ./data (SQLite and local files).
    """


@cli.command()
@click.option("--host", help="Address to bind (default WORKSPACE_HOST or 127.0.0.1).")
@click.option("--port", type=int, help="Port (default WORKSPACE_PORT or 8000).")
@click.option("--workers", type=int, help="Server processes (default WORKSPACE_WORKERS or 1).")
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Migrate the database, create a first admin on an empty install, and serve HTTP."""
    import uvicorn

    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    runtime = build_runtime(settings)
    try:
        migrations.upgrade(runtime.control)
        first = users.bootstrap_first_admin(runtime)
    finally:
        runtime.close()
    host, port = host or settings.host, port or settings.port
    click.echo(f"Workspace server on http://{host}:{port}  (API docs: /api/v1/schema)")
    if first is not None:
        click.echo("First start: an admin account was created. Shown once, keep it safe:")
        click.echo(f"  email:     {first.email}")
        click.echo(f"  password:  {first.password}")
        click.echo(f"  API token: {first.token}")
        click.echo(
            f"  try:       curl -H 'Authorization: Bearer {first.token}' "
            f"http://{host}:{port}/api/v1/me"
        )
    guard = functools.partial(
        ConnectionGuard,
        header_timeout=settings.header_timeout,
        body_timeout=settings.body_timeout,
        max_connections=settings.max_connections,
    )
    uvicorn.run(
        "workspace.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers or settings.workers,
        log_level=settings.log_level.lower(),
        access_log=False,
        http=guard,  # type: ignore[arg-type]  # uvicorn calls it as a factory, like a class
        timeout_keep_alive=settings.keep_alive_timeout,
    )


@cli.command()
@click.option("--threads", type=int, help="Job threads (default WORKSPACE_WORKER_THREADS).")
@click.option("--until-idle", is_flag=True, help="Run what is due now, then exit.")
def worker(threads: int | None, until_idle: bool) -> None:
    """Run background jobs: automations, periodic tasks, the event outbox. Any number of
    workers may run against one database; SIGTERM stops one gracefully (running jobs end,
    jobs it claimed but had not started go back to the queue)."""
    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    runtime = build_runtime(settings)
    try:
        if settings.migrate_on_start:
            migrations.upgrade(runtime.control)
        if until_idle:
            click.echo(f"ran {jobs_worker.run_until_idle(runtime)} jobs; nothing more is due")
            return
        _work(runtime, threads)
    finally:
        runtime.close()


def _work(runtime: Runtime, threads: int | None) -> None:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    running = jobs_worker.Worker(runtime, threads=threads)
    running.start()
    click.echo(f"worker running with {running.threads} threads (pid {os.getpid()})")
    while not stop.wait(1.0):
        pass
    click.echo("stopping: waiting for running jobs to end")
    running.stop()
    click.echo("worker stopped")


@cli.command()
def migrate() -> None:
    """Bring the control database schema to the newest version."""
    runtime = _runtime()
    try:
        migrations.upgrade(runtime.control)
    finally:
        runtime.close()
    click.echo("database is up to date")


@cli.group()
def user() -> None:
    """Manage server accounts."""


@user.command("create")
@click.argument("email")
@click.option("--name", default="", help="Display name.")
@click.option("--admin", is_flag=True, help="Make the account a server admin.")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Login password (prompted when not given; at least 10 characters).",
)
def user_create(email: str, name: str, admin: bool, password: str) -> None:
    """Create an account that can log in and own workspaces."""
    runtime = _runtime()
    try:
        created = users.create_user(runtime, email, name=name, password=password, is_admin=admin)
    except WorkspaceError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        runtime.close()
    click.echo(f"created user {created['id']} <{created['email']}>")


@cli.group()
def token() -> None:
    """Manage API tokens."""


@token.command("create")
@click.argument("email")
@click.option("--name", default="cli", help="What the token is for (shown in token lists).")
def token_create(email: str, name: str) -> None:
    """Create an API token for an account and print it (it is shown only once)."""
    runtime = _runtime()
    try:
        account = users.get_by_email(runtime, email)
        _, raw = auth.create_token(runtime, account["id"], name)
    except WorkspaceError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        runtime.close()
    click.echo(raw)


@cli.group()
def dedupe() -> None:
    """Find duplicate records."""


@dedupe.command("scan")
@click.argument("workspace_id", type=int)
@click.argument("record_type_id", type=int)
@click.option("--as", "email", required=True, help="The member the scan runs as (its history).")
def dedupe_scan(workspace_id: int, record_type_id: int, email: str) -> None:
    """Compare the records of a type by its dedupe rules; queue likely pairs for review."""
    runtime = _runtime()
    try:
        account = users.get_by_email(runtime, email)
        principal = Principal(account["id"], account["email"], source="cli")
        acc, rt = definitions.open_type(runtime, principal, workspace_id, record_type_id)
        result = duplicates.scan(runtime, acc, rt)
    except WorkspaceError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        runtime.close()
    click.echo(f"compared {result['compared']} pairs, queued {result['queued']} for review")


@cli.group("files")
def files_group() -> None:
    """Files attached to records."""


@files_group.command("purge")
def files_purge() -> None:
    """Remove files deleted more than 30 days ago and the stored blobs nothing refers to any
    more (run it daily, e.g. from cron). Blobs a failing backend kept are retried next time."""
    runtime = _runtime()
    try:
        done = files.purge(runtime)
    finally:
        runtime.close()
    click.echo(f"purged {done['files']} deleted files and {done['blobs']} stored blobs")
    if done["failed"]:
        raise click.ClickException(f"{done['failed']} blobs could not be deleted; see the log")


@cli.group("forms")
def forms_group() -> None:
    """Public forms."""


@forms_group.command("recover")
def forms_recover() -> None:
    """Mark failed the submissions no process is taking any more: still being processed ten
    minutes after they came in (the server stopped or lost its database). A worker does this
    every five minutes and every server start too; this is for doing it now."""
    runtime = _runtime()
    try:
        marked = form_submissions.recover(runtime)
    finally:
        runtime.close()
    click.echo(f"marked {marked} unfinished submissions failed")


@cli.group()
def storage() -> None:
    """Move a workspace's files between storage backends."""


@storage.command("migrate")
@click.argument("workspace_id", type=int, required=False)
@click.option("--as", "email", help="The admin the migration is started by (its history).")
@click.option(
    "--resume",
    is_flag=True,
    help="Finish migrations a stopped process left, once their lease has run out.",
)
def storage_migrate(workspace_id: int | None, email: str | None, resume: bool) -> None:
    """Copy a workspace's files to its saved draft backend, verify each, and switch; or,
    with --resume, carry on with interrupted migrations from where they stopped."""
    runtime = _runtime()
    try:
        if resume and workspace_id is None:
            states = storage_migration.resume_here(runtime)
        elif workspace_id is not None and email and not resume:
            account = users.get_by_email(runtime, email)
            principal = Principal(account["id"], account["email"], source="cli")
            acc = workspaces.access(runtime, principal, workspace_id)
            claim = storage_migration.begin(runtime, acc)
            states = {claim.id: copier.run(runtime, claim)}
        else:
            raise click.UsageError("give WORKSPACE_ID --as EMAIL, or --resume")
        for migration_id in states:
            click.echo(storage_migration.summary(runtime, migration_id))
        for migration_id in storage_migration.running_ids(runtime):
            click.echo(f"migration {migration_id} is being copied by another live process")
        if not states:
            click.echo("no interrupted migration to resume")
    except WorkspaceError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        runtime.close()
    if any(state != "done" for state in states.values()):
        raise SystemExit(1)


@cli.group()
def data() -> None:
    """Move a workspace's record data between databases."""


@data.command("move")
@click.option(
    "--resume",
    is_flag=True,
    required=True,
    help="Finish moves a stopped process left, once their lease has run out.",
)
def data_move(resume: bool) -> None:
    """Carry on with interrupted moves of record data from where they stopped (start a move
    in the UI or with POST /api/v1/workspaces/{id}/database/moves)."""
    runtime = _runtime()
    try:
        states = data_moves.resume_here(runtime)
        for move_id in states:
            click.echo(data_moves.summary(runtime, move_id))
        for move_id in data_moves.running_ids(runtime):
            click.echo(f"move {move_id} is being run by another live process")
        if not states:
            click.echo("no interrupted move to resume")
    finally:
        runtime.close()
    if any(state != "done" for state in states.values()):
        raise SystemExit(1)


@cli.group("connectors")
def connectors_group() -> None:
    """Sync connected SaaS tools."""


@connectors_group.command("pull")
@click.argument("connection_id", type=int, required=False)
@click.option("--due", is_flag=True, help="Every connection whose scheduled pull is due.")
def connectors_pull(connection_id: int | None, due: bool) -> None:
    """Pull one connection now, or with --due every connection whose "pull every N
    minutes" is due (run it every minute from cron until background jobs run it). A sync
    a stopped process left is taken over once its lease has run out."""
    runtime = _runtime()
    try:
        if due and connection_id is None:
            done = sync_engine.run_due(runtime)
        elif connection_id is not None and not due:
            done = [sync_engine.run_sync(runtime, connection_id, trigger="cli")]
        else:
            raise click.UsageError("give CONNECTION_ID, or --due")
    except WorkspaceError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        runtime.close()
    for run in done:
        counts = ", ".join(f"{k} {n}" for k, n in run["counts"].items() if n)
        click.echo(f"connection {run['connection']}: {run['state']} ({counts or 'nothing new'})")
    if any(run["state"] != "done" for run in done):
        raise SystemExit(1)


def main() -> None:
    """Console entry point: adds plugin commands (``register_commands``) to the group."""
    pm = make_plugin_manager(Settings.from_env())
    for _name, _ in call_each(pm.hook.register_commands, cli=cli):
        pass
    cli()
