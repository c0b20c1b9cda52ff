"""Typed settings read once from ``WORKSPACE_*`` environment variables.

Built by :func:`Settings.from_env` and passed to ``create_app`` so tests can build as many
differently configured apps as they like; nothing is read at import time.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path

PREFIX = "WORKSPACE_"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    """Folder for the embedded SQLite database, local files and the generated secret key."""

    database_url: str = ""
    """SQLAlchemy URL of the control database, e.g. ``mysql+pymysql://user:pw@host/db``.
    Empty means the embedded SQLite file ``<data_dir>/workspace.db``."""

    secret_key: str = ""
    """Server key for signing and for encrypting stored credentials. Empty means a random key
    generated once and kept in ``<data_dir>/secret.key`` (mode 0600)."""

    host: str = "127.0.0.1"
    """Address ``workspace serve`` binds to."""

    port: int = 8000
    """Port ``workspace serve`` listens on."""

    workers: int = 1
    """Server processes started by ``workspace serve`` (each with its own thread pool)."""

    threads: int = 32
    """Threads per process that run request handlers and database calls."""

    header_timeout: int = 20
    """Seconds a client has to send a request's headers, from opening the connection or from
    the previous answer, however slowly the bytes come; then the connection is closed."""

    body_timeout: int = 30
    """Seconds a request body may pause between two pieces before the connection is closed."""

    keep_alive_timeout: int = 5
    """Seconds an idle connection is kept open after an answer, for the client's next request."""

    max_connections: int = 500
    """Open connections per server process. A connection beyond it closes the one that has
    waited longest for its request headers (a slow client), or itself when none is waiting."""

    db_pool_size: int = 20
    """Connections kept open per process and database."""

    db_timeout: int = 10
    """Seconds to wait for a database connection or lock before the request fails with 503."""

    max_body_bytes: int = 8 * 1024 * 1024
    """Largest request body accepted; bigger ones get 413."""

    max_file_bytes: int = 100_000_000
    """Largest file accepted by an upload (per file); a bigger one gets 413 naming it and
    nothing is stored. Upload requests are exempt from ``max_body_bytes`` and may carry up to
    ten files of this size."""

    auth_cache_seconds: int = 5
    """How long a server process trusts an API token it has verified before asking the
    database again. A revoked token stops working everywhere within this time; 0 checks
    the database on every request."""

    bulk_limit: int = 1000
    """Most items accepted by one bulk call."""

    default_phone_region: str = "US"
    """Region used to read phone numbers written without a country code, unless a workspace
    sets its own."""

    plugins: str = ""
    """Comma-separated allow-list of plugin names to load; empty loads every installed plugin."""

    migrate_on_start: bool = True
    """Run Alembic migrations to the newest revision when the server starts."""

    log_level: str = "INFO"
    """Python logging level for the server."""

    form_redirect_hosts: str = ""
    """Comma-separated host names a public form may send people to after a submission
    (e.g. ``example.com,www.example.com``). Empty allows no redirects: forms show their
    success message instead. Any other host would make forms an open redirect."""

    import_max_rows: int = 100_000
    """Most data rows one CSV import takes (the file must also fit in max_body_bytes)."""

    api_rate_limit: int = 600
    """Most API requests one token may make per ``api_rate_window``, counted across every
    server process; more get 429 with Retry-After. 0 turns the limit off."""

    api_address_rate_limit: int = 1200
    """Most API requests one client address may make per ``api_rate_window``, whatever
    token they carry (or none), counted across every server process; 0 turns it off."""

    api_rate_window: int = 60
    """Seconds of the windows the API rate limits count in."""

    form_rate_limit: int = 30
    """Most submissions one client address may send to public forms per hour, counted from
    the stored submissions (so it holds across server processes); 0 turns the limit off."""

    form_edit_link_days: int = 30
    """Days a self-service edit link of a public form stays valid."""

    allow_private_hosts: bool = False
    """Let workspace admins point the server at loopback, private, link-local and other
    internal addresses (an S3 endpoint or FTP host on the local network). Off by default: the
    server would otherwise reach into its own network, metadata service included, on an
    admin's say-so."""

    storage_local_roots: str = ""
    """Comma-separated absolute folders under which workspace admins may put a local file
    backend. Empty allows only each workspace's own folder ``<data_dir>/files/<id>``: admins
    of a workspace are not operators of the machine and must not read or fill its folders."""

    customer_db_pool_size: int = 3
    """Connections kept open per process to each customer-owned data database (and as many
    again under load): a slow customer database ties up at most this many request threads."""

    customer_db_timeout: int = 5
    """Seconds to wait for a customer-owned data database to accept a connection or hand out
    a pooled one before that workspace's request fails with 503 (other workspaces go on)."""

    customer_db_read_timeout: int = 30
    """Seconds one statement on a customer-owned data database may take before its request
    fails with 503: a database that crawls must not hold request threads for minutes."""

    plugin_modules: str = ""
    """Comma-separated dotted paths of Python modules to register as plugins besides the
    installed ones (a plugin that is not a package, e.g. ``my_company.workspace_hooks``).
    The module must be importable from the server's working directory or path."""

    embedded_worker: bool = True
    """Run a background worker (automations, jobs, periodic tasks) inside each
    ``workspace serve`` process. Set false when separate ``workspace worker`` processes run
    the jobs instead."""

    worker_threads: int = 2
    """Threads per worker that run jobs (``workspace worker`` and the embedded worker)."""

    worker_poll_ms: int = 1000
    """How long an idle worker thread waits before it looks for due jobs and events again."""

    job_lease_seconds: int = 60
    """How long a claimed job stays a worker's without a sign of life; the worker renews it
    every third of this while the job runs. A job whose worker died is taken over by
    another worker after this long."""

    jobs_keep_days: int = 7
    """Days finished jobs and dispatched events are kept (to see what ran) before the
    worker deletes them. Dead jobs stay until replayed or cancelled."""

    automation_attempts: int = 5
    """Attempts a failing automation step gets (with exponential backoff, about an hour in
    all for five) before its run goes to the dead letter, to be replayed or dismissed."""

    automation_runs_per_minute: int = 600
    """Most automation runs one workspace starts per minute; the excess waits its turn (it
    is queued, never dropped). 0: no cap."""

    automation_runs_keep_days: int = 30
    """Days an automation run that is over (done, skipped, stopped, dismissed) is kept in
    the run log, with its steps and webhook payload, before the worker deletes it. Runs
    still to finish and dead runs nobody has dismissed or replayed are never deleted."""

    automation_hook_rate_limit: int = 60
    """Most posts one automation's inbound webhook takes per ``api_rate_window``, counted
    across every server process; more get 429 with Retry-After and are not stored. 0 turns
    the limit off."""

    automation_hook_address_rate_limit: int = 120
    """Most posts one client address may send to inbound webhooks (all automations) per
    ``api_rate_window``, counted across every server process; 0 turns it off."""

    connector_timeout: int = 10
    """Seconds a request to a connected SaaS tool may take to connect, and to send or read
    each part of its answer, before it counts as timed out (and is retried with backoff)."""

    allowed_plugins: frozenset[str] = field(init=False, default=frozenset())

    def __post_init__(self) -> None:
        names = frozenset(p.strip() for p in self.plugins.split(",") if p.strip())
        object.__setattr__(self, "allowed_plugins", names)

    @property
    def plugin_module_list(self) -> list[str]:
        """``plugin_modules`` as a list of dotted paths."""
        return [p.strip() for p in self.plugin_modules.split(",") if p.strip()]

    @property
    def form_redirect_host_set(self) -> frozenset[str]:
        """``form_redirect_hosts`` as lower-case host names."""
        hosts = (h.strip().lower() for h in self.form_redirect_hosts.split(","))
        return frozenset(h for h in hosts if h)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Read every field from ``WORKSPACE_<NAME>``; ``overrides`` win over the environment."""
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {}
        for f in fields(cls):
            if not f.init:
                continue
            raw = env.get(PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = _convert(f.type, raw, f.name)
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def control_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'workspace.db').resolve()}"

    def resolved_secret_key(self) -> str:
        """The configured key, or the one generated on first start and kept in the data dir."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
        return path.read_text().strip()


def _convert(type_name: object, raw: str, name: str) -> object:
    kind = str(type_name)
    try:
        if kind == "int":
            return int(raw)
        if kind == "bool":
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(raw)
        if kind == "Path":
            return Path(raw)
    except ValueError:
        raise SystemExit(f"{PREFIX}{name.upper()}: cannot read {raw!r} as {kind}") from None
    return raw
