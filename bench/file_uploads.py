"""Uploads and downloads of files on a record through the HTTP API, and the server process's
peak memory while it handles them (it must stay flat, not grow with file size).

    .venv/bin/python bench/file_uploads.py                  # 1, 10 and 100 MB
    .venv/bin/python bench/file_uploads.py --sizes 100,500

It starts ``uvicorn workspace.app:app_from_env`` in its own process on SQLite and the local
file backend in a temporary folder, makes an account, a workspace and a record, then for each
size uploads a generated file (streamed from disk by httpx) and downloads it again, checking
the sha256. Before each transfer the server's peak resident set size (VmHWM) is reset through
/proc/<pid>/clear_refs, and read afterwards: "growth" is that peak less the resident size
just before the transfer.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from workspace import migrate
from workspace.access import auth, users
from workspace.boot import build_runtime
from workspace.settings import Settings

MB = 1_000_000
CHUNK = 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss(pid: int, key: str) -> int:
    """VmRSS or VmHWM of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise LookupError(key)


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def payload(path: Path, size: int) -> str:
    """Write ``size`` random-looking bytes to ``path``; return their sha256."""
    digest, block = hashlib.sha256(), random.Random(size).randbytes(CHUNK)
    with path.open("wb") as out:
        for offset in range(0, size, CHUNK):
            chunk = (offset.to_bytes(8, "big") + block[8:])[: min(CHUNK, size - offset)]
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,10,100", help="file sizes in MB, comma-separated")
    args = parser.parse_args()
    sizes = [int(s) * MB for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = {**os.environ, "WORKSPACE_DATA_DIR": str(folder / "data")}
        env["WORKSPACE_MAX_FILE_BYTES"] = str(max(sizes) + 1)
        settings = Settings.from_env(env)
        runtime = build_runtime(settings)
        migrate.upgrade(runtime.control)
        user = users.create_user(runtime, "bench@example.com", password=None)
        _, token = auth.create_token(runtime, user["id"], "bench")
        runtime.close()
        port = free_port()
        command = [sys.executable, "-m", "uvicorn", "workspace.app:app_from_env", "--factory"]
        server = subprocess.Popen(
            [*command, "--port", str(port), "--log-level", "warning"],
            env=env,
            start_new_session=True,
        )
        try:
            run(server.pid, f"http://127.0.0.1:{port}/api/v1", token, sizes, folder)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


def run(pid: int, api: str, token: str, sizes: list[int], folder: Path) -> None:
    client = httpx.Client(base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=600)
    deadline = time.monotonic() + 120
    while True:
        try:
            client.get("/me").raise_for_status()
            break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    ws = client.post("/workspaces", json={"name": "Bench"}).json()["id"]
    spec = {"name": "Doc", "fields": [{"name": "Name", "type": "text"}]}
    rt = client.post(f"/workspaces/{ws}/types", json=spec).json()["id"]
    record = client.post(f"/workspaces/{ws}/types/{rt}/records", json={"fields": {}}).json()
    path = f"/workspaces/{ws}/types/{rt}/records/{record['id']}/files"
    print(f"server pid {pid}, resident {rss(pid, 'VmRSS') / MB:.0f} MB after start-up")
    print("| size | upload MB/s | upload peak growth | download MB/s | download peak growth |")
    print("| --- | --- | --- | --- | --- |")
    for size in sizes:
        source = folder / f"payload-{size}"
        sha = payload(source, size)
        before = rss(pid, "VmRSS")
        reset_peak(pid)
        started = time.perf_counter()
        with source.open("rb") as f:
            answer = client.post(path, files={"files": (source.name, f)})
        up_s = time.perf_counter() - started
        answer.raise_for_status()
        up_growth = rss(pid, "VmHWM") - before
        (stored,) = answer.json()["items"]
        assert stored["sha256"] == sha
        before = rss(pid, "VmRSS")
        reset_peak(pid)
        started = time.perf_counter()
        digest = hashlib.sha256()
        with client.stream("GET", f"/workspaces/{ws}/files/{stored['id']}/content") as got:
            got.raise_for_status()
            for chunk in got.iter_bytes(CHUNK):
                digest.update(chunk)
        down_s = time.perf_counter() - started
        assert digest.hexdigest() == sha
        down_growth = rss(pid, "VmHWM") - before
        source.unlink()
        print(
            f"| {size / MB:.0f} MB | {size / MB / up_s:.0f} | {up_growth / MB:.1f} MB "
            f"| {size / MB / down_s:.0f} | {down_growth / MB:.1f} MB |"
        )


if __name__ == "__main__":
    main()
