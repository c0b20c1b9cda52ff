"""Real worker processes for tests: started with ``workspace worker`` on the test's database,
stopped with SIGTERM (or killed by their id), and a way to wait for what they do."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from workspace.settings import Settings

ROOT = Path(__file__).parent.parent


def worker_process(
    settings: Settings, tmp_path: Path, name: str, plugins: str = "tests.plugins.job_counter"
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "WORKSPACE_DATABASE_URL": settings.database_url,
        "WORKSPACE_DATA_DIR": str(tmp_path / name),
        "WORKSPACE_PLUGIN_MODULES": plugins,
        "WORKSPACE_MIGRATE_ON_START": "false",
        "WORKSPACE_JOB_LEASE_SECONDS": "3",
        "WORKSPACE_WORKER_POLL_MS": "100",
        "WORKSPACE_WORKER_THREADS": "2",
        "WORKSPACE_LOG_LEVEL": "WARNING",
    }
    with (tmp_path / f"{name}.log").open("wb") as log_file:  # the child keeps its own copy
        return subprocess.Popen(
            [sys.executable, "-m", "workspace", "worker"],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
