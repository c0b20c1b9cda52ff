"""Upload and download throughput of each storage backend over loopback, and the peak memory
of this process (the server's side of a transfer) while it runs; for FTP servers also the
time of many small-file operations with kept connections against a login per operation.

    .venv/bin/python bench/storage_throughput.py                 # 10 MB and 100 MB files
    .venv/bin/python bench/storage_throughput.py --sizes 100,1000 --backends s3
    .venv/bin/python bench/storage_throughput.py --backends ftp,vsftpd,vsftpds --small 50

It starts its own servers, each in its own process so their memory is not counted: moto's S3
server (``python -m moto.server``), pyftpdlib (``ftp``, ``ftps`` with TLS) and Debian's vsftpd
(``vsftpd``, ``vsftpds`` with TLS: as root, with the package installed), on free loopback
ports, with a temporary folder each; the FTP servers are the test suite's
(tests/storage_servers.py). The local backend writes to a temporary folder too. Payloads are
generated and hashed chunk by chunk (64 KiB, the size of a web upload's reads) and every
download is checked against the upload's sha256.

Small files (``--small N``, FTP servers only): N rounds of upload, stat, download and delete of
a 1 KB file, each call on an event loop of its own as the services make them (``run_async``),
once with the backend's kept connections and once with ``keep_connections=0`` (a login per
operation, as the backend did before); "logins" counts the connections opened.

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

from storage_backends import one_chunk
from storage_backends.ftp import FtpBackend
from storage_backends.local import LocalBackend
from storage_backends.s3 import S3Backend
from workspace import StorageBackend
from workspace.net import checked_addresses

# The FTP test servers (their configs, vsftpd's system user) are the test suite's.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.storage_servers import PyFtpd, PyFtpsd, Vsftpd, Vsftpsd, on_loopback

FTP_SERVERS = {"ftp": PyFtpd, "ftps": PyFtpsd, "vsftpd": Vsftpd, "vsftpds": Vsftpsd}

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
    for kind in wanted:
        if kind in FTP_SERVERS:
            found[kind] = ftp_backend(stack.enter_context(ftp_server(kind, workdir)))
    return found


@contextmanager
def ftp_server(kind: str, workdir: Path) -> Iterator[Any]:
    folder = workdir / kind
    folder.mkdir()
    running = FTP_SERVERS[kind](folder)
    running.start()
    try:
        yield running
    finally:
        running.kill()
        if isinstance(running, Vsftpd):
            running.remove()


def ftp_backend(running: Any, keep: int | None = None) -> FtpBackend:
    options = {} if keep is None else {"keep_connections": keep}
    backend = FtpBackend.from_config(running.config(timeout=60), **options)
    on_loopback(backend)  # the servers are on loopback, which this operator allows
    return backend


def small_files(backend: FtpBackend, rounds: int) -> dict[str, float]:
    """``rounds`` of upload, stat, download and delete of a 1 KB file, each call on an event
    loop of its own (as ``run_async`` makes them for the services)."""
    data = random.Random(rounds).randbytes(1000)
    started = time.perf_counter()
    for i in range(rounds):
        name = f"small/{i:02x}/{i:06}"
        asyncio.run(backend.put(name, one_chunk(data)))
        assert asyncio.run(backend.stat(name)) is not None
        assert asyncio.run(download(backend, name)) == hashlib.sha256(data).hexdigest()
        asyncio.run(backend.delete(name))
    seconds = time.perf_counter() - started
    backend.close()
    return {"seconds": seconds, "per_op": seconds / (4 * rounds), "logins": backend.pool.opened}


def compare_small_files(workdir: Path, kinds: list[str], rounds: int) -> None:
    print(
        f"\n{rounds} rounds of upload, stat, download, delete of a 1 KB file "
        f"({4 * rounds} operations, each on a fresh event loop)"
    )
    print(
        "| server | kept connections: s, ms/op, logins "
        "| a login per operation: s, ms/op, logins | speed-up |"
    )
    print("|---|---:|---:|---:|")
    for kind in kinds:
        with ftp_server(kind, workdir / "small") as running:
            kept = small_files(ftp_backend(running), rounds)
            fresh = small_files(ftp_backend(running, keep=0), rounds)
        print(
            f"| {kind} | {kept['seconds']:.2f}, {kept['per_op'] * 1000:.1f}, {kept['logins']:.0f} "
            f"| {fresh['seconds']:.2f}, {fresh['per_op'] * 1000:.1f}, {fresh['logins']:.0f} "
            f"| {fresh['seconds'] / kept['seconds']:.1f}x |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100", help="file sizes in MB (default 10,100)")
    parser.add_argument("--backends", default="local,s3,ftp,vsftpd")
    parser.add_argument(
        "--small", type=int, default=50, help="rounds of small-file operations (0: none)"
    )
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
            if isinstance(backend, FtpBackend):
                backend.close()
        ftp_kinds = [kind for kind in args.backends.split(",") if kind in FTP_SERVERS]
        if args.small and ftp_kinds:
            (Path(tmp) / "small").mkdir()
            compare_small_files(Path(tmp), ftp_kinds, args.small)


if __name__ == "__main__":
    main()
