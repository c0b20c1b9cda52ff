"""A sync killed mid-pull (SIGKILL, by its process id) resumes where the last committed page
ended: every remote row taken exactly once, the cursor where it belongs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.connectors import (
    connect,
    count,
    customer_type,
    disconnect_after,  # noqa: F401 (a fixture, asked for by name below)
    loopback_settings,
    map_story,
)
from tests.fake_saas import HubSpotFake
from tests.helpers import records_path
from workspace import models as m
from workspace.connectors import engine
from workspace.db import transaction

ROWS, X, MP = m.sync_rows, m.external_ids, m.connection_mappings
CONTACTS = 2000

SYNC = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from workspace.boot import build_runtime
    from workspace.connectors import engine
    from tests.connectors import loopback_settings

    url, data_dir, connection = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    runtime = build_runtime(loopback_settings(url, data_dir))
    engine.run_sync(runtime, connection)
    """
)


pytestmark = pytest.mark.usefixtures("disconnect_after")


@pytest.fixture
def settings(database_url, tmp_path):
    return loopback_settings(database_url, tmp_path)


def kept(runtime, connection: int) -> int:
    return count(runtime, ROWS, ROWS.c.connection_id == connection)


def test_a_sync_killed_mid_pull_resumes_without_taking_a_row_twice(
    runtime, api, ws, access, database_url, tmp_path: Path
):
    rt = customer_type(api, ws)
    with HubSpotFake() as hubspot:
        hubspot.seed_contacts(CONTACTS)
        connection = connect(runtime, access, hubspot)
        map_story(runtime, access, connection, "hubspot", rt["id"])
        hubspot.hang("GET /crm/v3/objects/contacts", seconds=0.15, times=None)  # a slow CRM
        root = Path(__file__).parent.parent
        process = subprocess.Popen(
            [sys.executable, "-c", SYNC, database_url, str(tmp_path), str(connection)],
            cwd=root,
            env={**os.environ, "PYTHONPATH": str(root)},
        )
        try:
            deadline = time.monotonic() + 60
            while kept(runtime, connection) < 500:
                assert process.poll() is None, "the sync ended before it could be killed"
                assert time.monotonic() < deadline, "the sync did not get going"
                time.sleep(0.05)
            os.kill(process.pid, signal.SIGKILL)
        finally:
            process.wait()
        assert process.returncode == -signal.SIGKILL
        taken = kept(runtime, connection)
        assert 500 <= taken < CONTACTS  # cut short, between two pages
        assert taken % 100 == 0  # whole pages only: each page commits whole or not at all
        hubspot.clear_faults()
        deadline = time.monotonic() + 30
        while True:  # the dead process's lease runs out, then the sync can be taken over
            try:
                run = engine.run_sync(runtime, connection, trigger="resume")
                break
            except engine.SyncBusy:
                assert time.monotonic() < deadline
                time.sleep(0.5)
        newest = max(int(r.updated_ms) for r in hubspot.crm.objects["contacts"].records.values())
    assert run["state"] == "done"
    assert run["counts"]["created"] == CONTACTS  # the run was taken over, not started anew
    with transaction(runtime.control) as conn:
        repeated = conn.execute(
            select(ROWS.c.remote_id)
            .where(ROWS.c.connection_id == connection)
            .group_by(ROWS.c.remote_id)
            .having(func.count() > 1)
        ).all()
        cursor = conn.execute(select(MP.c.cursor).where(MP.c.connection_id == connection)).scalar()
    assert repeated == []
    assert kept(runtime, connection) == CONTACTS
    assert count(runtime, X, X.c.connection_id == connection) == CONTACTS
    assert api.get(records_path(ws, rt), total="true", limit=1)["total"] == CONTACTS
    assert cursor == {"phase": "changes", "since": newest + 1, "seen": []}
