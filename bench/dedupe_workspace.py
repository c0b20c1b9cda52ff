"""A throw-away workspace for the dedupe benches, driven through the services in-process.

``BenchWorkspace`` makes a fresh database (MySQL: ``bench_dedupe_<pid>``, dropped on close;
SQLite: a file in a temporary folder, removed on close), migrates it, and creates an admin,
a workspace and its access, the way the tests do. Records go in through
``records.bulk`` (the API's bulk path), rules through ``dedupe_rules.add_rule`` and the
scan is ``queue.scan``: no HTTP, so the figures are the services' own.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pymysql
from sqlalchemy import select
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from workspace import migrate  # noqa: E402
from workspace import models as m  # noqa: E402
from workspace.access import users, workspaces  # noqa: E402
from workspace.boot import build_runtime  # noqa: E402
from workspace.db import transaction  # noqa: E402
from workspace.dedupe import queue  # noqa: E402
from workspace.dedupe import rules as dedupe_rules  # noqa: E402
from workspace.principal import Access, Principal  # noqa: E402
from workspace.records import records  # noqa: E402
from workspace.runtime import Runtime  # noqa: E402
from workspace.schema.tables import RecordTypeDef  # noqa: E402
from workspace.settings import Settings  # noqa: E402
from workspace.types import record_types  # noqa: E402

BATCH = 1000


def mysql_admin(url: str) -> pymysql.Connection:
    u = make_url(url)
    return pymysql.connect(
        host=u.host or "127.0.0.1",
        port=u.port or 3306,
        user=u.username or "root",
        password=u.password or "",
        autocommit=True,
    )


class BenchWorkspace:
    """One database, one workspace, its owner's access; ``close()`` drops everything."""

    def __init__(
        self, db: str, mysql_url: str, tag: str, *, keep: bool = False, **options: Any
    ) -> None:
        """``options`` are further ``Settings`` fields (the data move bench lets admins use
        the loopback customer database)."""
        self.keep = keep
        self.tmp = Path(tempfile.mkdtemp(prefix=f"bench_dedupe_{tag}_"))
        self.mysql_url = mysql_url
        self.database: str | None = None
        if db == "mysql":
            self.database = f"bench_dedupe_{tag}_{os.getpid()}"
            self._admin(f"DROP DATABASE IF EXISTS `{self.database}`")
            self._admin(
                f"CREATE DATABASE `{self.database}` CHARACTER SET utf8mb4 "
                "COLLATE utf8mb4_unicode_ci"
            )
            url = make_url(mysql_url).set(database=self.database)
            database_url = url.render_as_string(hide_password=False)
        else:
            database_url = f"sqlite:///{self.tmp / 'workspace.db'}"
        settings = Settings(
            database_url=database_url,
            data_dir=self.tmp,
            migrate_on_start=False,
            db_timeout=60,
            **options,
        )
        self.runtime: Runtime = build_runtime(settings)
        migrate.upgrade(self.runtime.control)
        user = users.create_user(self.runtime, "bench@example.com", password=None, is_admin=True)
        principal = Principal(user["id"], user["email"])
        ws = workspaces.create(self.runtime, principal, "Dedupe bench", phone_region="US")
        self.acc: Access = workspaces.access(self.runtime, principal, ws["id"])

    def _admin(self, sql: str) -> None:
        conn = mysql_admin(self.mysql_url)
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql)
        finally:
            conn.close()

    def close(self) -> None:
        self.runtime.close()
        if not self.keep:
            if self.database:
                self._admin(f"DROP DATABASE IF EXISTS `{self.database}`")
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- types, rules, records ---------------------------------------------------------

    def new_type(self, name: str, fields: list[dict[str, Any]]) -> int:
        return int(
            record_types.create_type(self.runtime, self.acc, {"name": name, "fields": fields})["id"]
        )

    def rt(self, type_id: int) -> RecordTypeDef:
        return record_types.get_type(self.runtime, self.acc, type_id)

    def add_rules(self, type_id: int, specs: Sequence[dict[str, Any]]) -> None:
        for spec in specs:
            dedupe_rules.add_rule(self.runtime, self.acc, type_id, spec)

    def load(
        self,
        type_id: int,
        rows: Sequence[dict[str, Any]],
        *,
        batch: int = BATCH,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[list[int | None], int]:
        """Bulk-create ``rows`` in order; the record id of each (None when refused) and the
        number refused (a value the field type rejects)."""
        ids: list[int | None] = []
        refused = 0
        for start in range(0, len(rows), batch):
            items = [{"fields": r} for r in rows[start : start + batch]]
            result = records.bulk(self.runtime, self.acc, self.rt(type_id), items, atomic=False)
            for entry in result["results"]:
                ids.append(entry.get("id"))
                refused += entry["status"] == "error"
            if progress:
                progress(len(ids))
        return ids, refused

    def scan(self, type_id: int) -> tuple[dict[str, int], float]:
        started = time.perf_counter()
        result = queue.scan(self.runtime, self.acc, self.rt(type_id))
        return result, time.perf_counter() - started

    def queued(self, type_id: int) -> list[tuple[int, int, str, float]]:
        """Every queued pair: (record a, record b, rule that found it, score)."""
        p = m.duplicate_pairs
        with transaction(self.runtime.control) as conn:
            rows = conn.execute(
                select(p.c.record_a, p.c.record_b, p.c.found_by, p.c.score).where(
                    p.c.record_type_id == type_id
                )
            ).all()
        return [tuple(r) for r in rows]  # type: ignore[misc]
