"""Start ``workspace serve`` on a fresh MySQL database and stop it again.

The server runs in its own session (process group), so stopping it signals exactly the
processes this bench started and nothing else on the machine.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cpu import process_tree

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One ``workspace serve`` process tree (uvicorn supervisor + worker processes)."""

    def __init__(self, database_url: str, data_dir: Path, workers: int) -> None:
        self.database_url, self.data_dir, self.workers = database_url, data_dir, workers
        self.host, self.port = "127.0.0.1", free_port()
        self.log_path = data_dir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.token = ""

    def start(self, timeout: float = 90.0) -> None:
        env = {
            # Benchmarks send one token's requests as fast as they are answered.
            "WORKSPACE_API_RATE_LIMIT": "0",
            "WORKSPACE_API_ADDRESS_RATE_LIMIT": "0",
            **os.environ,
            "WORKSPACE_DATABASE_URL": self.database_url,
            "WORKSPACE_DATA_DIR": str(self.data_dir),
        }
        cmd = [sys.executable, "-m", "workspace", "serve", "--host", self.host]
        cmd += ["--port", str(self.port), "--workers", str(self.workers)]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while not self.token:
            self._check_alive(deadline)
            found = re.search(r"API token: (wst_\S+)", self.log_path.read_text(errors="replace"))
            self.token = found.group(1) if found else ""
            time.sleep(0.2)
        while True:  # ready when every worker could have answered; one answer is enough here
            self._check_alive(deadline)
            try:
                if self.call("GET", "/api/v1/me")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)

    def _check_alive(self, deadline: float) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"server did not come up (exit code {self.proc.poll()}); log:\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def pids(self) -> list[int]:
        if self.proc is None or self.proc.poll() is not None:
            return []
        return process_tree(self.proc.pid)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One JSON request on a fresh connection (setup only; the phases use the load client)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
        try:
            headers = {"Accept": "application/json"}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
        finally:
            conn.close()

    def stop(self) -> None:
        """SIGTERM to the server's own process group, SIGKILL if it lingers."""
        if self.proc is None:
            return
        group = self.proc.pid  # start_new_session: the group id is the server's pid
        _signal_group(group, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=20)
        deadline = time.monotonic() + 5
        while _signal_group(group, 0) and time.monotonic() < deadline:
            time.sleep(0.1)  # workers still shutting down
        _signal_group(group, signal.SIGKILL)
        self.proc.wait()
        self.proc = None


def _signal_group(group: int, sig: int) -> bool:
    """Signal the server's process group; False when none of it is left."""
    try:
        os.killpg(group, sig)
    except ProcessLookupError:
        return False
    return True
