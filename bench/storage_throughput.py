"""Upload and download throughput of each storage backend over loopback, and the peak memory
of this process (the server's side of a transfer) while it runs.

    .venv/bin/python bench/storage_throughput.py                 # 10 MB and 100 MB files
    .venv/bin/python bench/storage_throughput.py --sizes 100,1000 --backends s3

It starts its own servers, each in its own process so their memory is not counted: moto's S3
server (``python -m moto.server``) and pyftpdlib, on free loopback ports, with a temporary
folder each; the local backend writes to a temporary folder too. Payloads are generated and
hashed chunk by chunk (64 KiB, the size of a web upload's reads) and every download is
checked against the upload's sha256.

Memory: before each upload and each download the peak resident set size (VmHWM in
/proc/self/status) is reset through /proc/self/clear_refs, and read afterwards. "Peak" is the
whole process's peak during that transfer, "growth" that peak less the resident size just
before it. Flat memory means growth does not rise with the file size.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, aclosing, contextmanager
from pathlib import Path
from typing import Any

import boto3

from storage_backends.ftp import FtpBackend
from storage_backends.local import LocalBackend
from storage_backends.s3 import S3Backend
from workspace import StorageBackend
from workspace.net import checked_addresses

CHUNK = 64 * 1024
MB = 1_000_000
MIB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(command: list[str], port: int, log: Path) -> Iterator[None]:
    """Run ``command`` in its own process group until the block ends."""
    with open(log, "ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{command[2]} did not start; see {log}") from None
                time.sleep(0.05)
        yield
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def memory() -> dict[str, int]:
    status = Path("/proc/self/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines())
    return {key: int(fields[key].split()[0]) * 1024 for key in ("VmRSS", "VmHWM")}


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


async def produce(size: int, sha: Any) -> AsyncIterator[bytes]:
    block = random.Random(size).randbytes(CHUNK)
    for offset in range(0, size, CHUNK):
        chunk = (offset.to_bytes(8, "big") + block[8:])[: min(CHUNK, size - offset)]
        sha.update(chunk)
        yield chunk


async def upload(backend: StorageBackend, name: str, size: int) -> str:
    sha = hashlib.sha256()
    written = await backend.put(name, produce(size, sha))
    assert written == size, (written, size)
    return sha.hexdigest()


async def download(backend: StorageBackend, name: str) -> str:
    sha = hashlib.sha256()
    async with aclosing(backend.get(name)) as chunks:
        async for chunk in chunks:
            sha.update(chunk)
    return sha.hexdigest()


def measure(work: Any) -> tuple[float, int, int, Any]:
    """Run ``work()`` in a fresh event loop: seconds, peak RSS, growth over the RSS before."""
    before = memory()["VmRSS"]
    reset_peak()
    started = time.perf_counter()
    result = asyncio.run(work())
    seconds = time.perf_counter() - started
    peak = memory()["VmHWM"]
    return seconds, peak, max(0, peak - before), result


def run(backend: StorageBackend, size: int) -> dict[str, Any]:
    name = f"bench/{size}"
    up_s, up_peak, up_growth, sent = measure(lambda: upload(backend, name, size))
    down_s, down_peak, down_growth, got = measure(lambda: download(backend, name))
    assert got == sent, "the download differs from the upload"
    asyncio.run(backend.delete(name))
    return {
        "up": size / MB / up_s,
        "down": size / MB / down_s,
        "up_peak": up_peak / MIB,
        "up_growth": up_growth / MIB,
        "down_peak": down_peak / MIB,
        "down_growth": down_growth / MIB,
    }


def backends(workdir: Path, wanted: list[str], stack: Any) -> dict[str, StorageBackend]:
    found: dict[str, StorageBackend] = {}
    if "local" in wanted:
        found["local"] = LocalBackend(workdir / "local")
    if "s3" in wanted:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        stack.enter_context(server(command, port, workdir / "moto.log"))
        keys = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", **keys)
        s3.create_bucket(Bucket="bench")
        s3.close()
        found["s3"] = S3Backend(
            "bench", endpoint_url=url, access_key="bench", secret_key="bench", timeout=60
        )
        # moto is on loopback, which this operator allows.
        found["s3"].addresses_for = functools.partial(checked_addresses, allow_private=True)
    if "ftp" in wanted:
        port = free_port()
        home = workdir / "ftp"
        home.mkdir()
        command = [
            *(sys.executable, "-m", "pyftpdlib", "-i", "127.0.0.1", "-p", str(port)),
            *("-d", str(home), "-w", "-u", "bench", "-P", "bench"),
        ]
        stack.enter_context(server(command, port, workdir / "ftp.log"))
        found["ftp"] = FtpBackend(
            "127.0.0.1", port=port, user="bench", password="bench", timeout=60
        )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100", help="file sizes in MB (default 10,100)")
    parser.add_argument("--backends", default="local,s3,ftp")
    args = parser.parse_args()
    sizes = [int(float(s) * MB) for s in args.sizes.split(",")]
    print(f"baseline RSS before any transfer: {memory()['VmRSS'] / MIB:.1f} MiB")
    header = (
        "| backend | file | upload MB/s | download MB/s | peak RSS up / down, MiB "
        "| growth up / down, MiB |"
    )
    print(header)
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp, ExitStack() as stack:
        for kind, backend in backends(Path(tmp), args.backends.split(","), stack).items():
            for size in sizes:
                r = run(backend, size)
                print(
                    f"| {kind} | {size // MB} MB | {r['up']:.0f} | {r['down']:.0f} "
                    f"| {r['up_peak']:.1f} / {r['down_peak']:.1f} "
                    f"| {r['up_growth']:.1f} / {r['down_growth']:.1f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
