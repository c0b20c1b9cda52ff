"""The tiny API that ``async_vs_threads.py`` serves two ways, chosen by ``BENCH_VARIANT``.

``threads``: sync handlers with ``sync_to_thread=True`` and a SQLAlchemy Core engine on PyMySQL,
the way the workspace server is built. ``async``: async handlers and a SQLAlchemy asyncio
engine (``create_async_engine``) on aiomysql, which reuses PyMySQL's packet classes and
converters, so the two differ mostly in how they wait for MySQL, not in how they parse rows.

Both have the same two endpoints, statements built once at import, and the same pools:
``pool_size`` 20, ``pool_reset_on_return=None``, and, like ``workspace/db.py``, a READ
COMMITTED writer engine plus an AUTOCOMMIT reader engine that skips the COMMIT/ROLLBACK round
trips, so a read is one round trip and a create three (INSERT, SELECT, COMMIT) on either side.

    GET  /rows/{id}   SELECT * FROM t WHERE id = :id
    POST /rows        INSERT one row and SELECT it back in one transaction; 201 with the row

Served by ``async_vs_threads.py`` as
``uvicorn --factory tiny_api:app_from_env`` with ``BENCH_DB_URL=mysql://user:pw@host:port/db``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from decimal import Decimal
from typing import Any

import anyio.to_thread
import msgspec
from litestar import Litestar, get, post
from litestar.exceptions import NotFoundException
from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    insert,
    select,
)
from sqlalchemy.engine import make_url

POOL = {"pool_size": 20, "max_overflow": 20, "pool_timeout": 10, "pool_reset_on_return": None}
THREADS = 32  # the workspace server's default thread limiter (WORKSPACE_THREADS)

metadata = MetaData()
t = Table(
    "t",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("email", String(254), nullable=False),
    Column("phone", String(32)),
    Column("company", String(100)),
    Column("status", String(20), nullable=False),
    Column("amount", Numeric(18, 2)),
    Column("score", Integer),
    Column("created", Date),
    Column("updated", DateTime),
    Column("notes", Text),
)
GET_ROW = select(t).where(t.c.id == bindparam("id"))
INSERT_ROW = insert(t)


class NewRow(msgspec.Struct):
    name: str
    email: str
    status: str
    phone: str | None = None
    company: str | None = None
    amount: Decimal | None = None
    score: int | None = None
    created: date | None = None
    notes: str | None = None


def _values(data: NewRow) -> dict[str, Any]:
    return {f: getattr(data, f) for f in data.__struct_fields__}


def _skip_commit_rollback(engine: Any) -> None:
    """AUTOCOMMIT reader: no COMMIT/ROLLBACK round trips for SQLAlchemy's bookkeeping calls."""
    engine.dialect.do_commit = engine.dialect.do_rollback = lambda _dbapi_conn: None


def _url(driver: str) -> Any:
    return make_url(os.environ["BENCH_DB_URL"]).set(drivername=f"mysql+{driver}")


def threads_app() -> Litestar:
    url = _url("pymysql")
    writer = create_engine(url, isolation_level="READ COMMITTED", **POOL)
    reader = create_engine(url, isolation_level="AUTOCOMMIT", **POOL)
    _skip_commit_rollback(reader)

    @get("/rows/{row_id:int}", sync_to_thread=True)
    def get_row(row_id: int) -> dict[str, Any]:
        with reader.connect() as conn:
            row = conn.execute(GET_ROW, {"id": row_id}).first()
        if row is None:
            raise NotFoundException()
        return dict(row._mapping)

    @post("/rows", sync_to_thread=True)
    def create_row(data: NewRow) -> dict[str, Any]:
        with writer.begin() as conn:
            new_id = conn.execute(INSERT_ROW, _values(data)).lastrowid
            return dict(conn.execute(GET_ROW, {"id": new_id}).one()._mapping)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
        try:
            yield
        finally:
            reader.dispose()
            writer.dispose()

    return Litestar([get_row, create_row], lifespan=[lifespan])


def async_app() -> Litestar:
    from sqlalchemy.ext.asyncio import create_async_engine

    url = _url("aiomysql")
    writer = create_async_engine(url, isolation_level="READ COMMITTED", **POOL)
    reader = create_async_engine(url, isolation_level="AUTOCOMMIT", **POOL)
    _skip_commit_rollback(reader)

    @get("/rows/{row_id:int}")
    async def get_row(row_id: int) -> dict[str, Any]:
        async with reader.connect() as conn:
            row = (await conn.execute(GET_ROW, {"id": row_id})).first()
        if row is None:
            raise NotFoundException()
        return dict(row._mapping)

    @post("/rows")
    async def create_row(data: NewRow) -> dict[str, Any]:
        async with writer.begin() as conn:
            new_id = (await conn.execute(INSERT_ROW, _values(data))).lastrowid
            return dict((await conn.execute(GET_ROW, {"id": new_id})).one()._mapping)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await reader.dispose()
            await writer.dispose()

    return Litestar([get_row, create_row], lifespan=[lifespan])


def app_from_env() -> Litestar:
    variant = os.environ["BENCH_VARIANT"]
    if variant == "threads":
        return threads_app()
    if variant == "async":
        return async_app()
    raise SystemExit(f"BENCH_VARIANT must be threads or async, not {variant!r}")
