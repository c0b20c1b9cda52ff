"""What the FTP backend does beyond the storage contract (tests/test_storage_backends.py runs
that against pyftpdlib and vsftpd): connections kept and reused across the event loops the
services make, checked and dropped when broken; uploads checked against the server's size and
hash; connections to the address that was checked, never to a second answer for the name."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from typing import Any

import pytest

from storage_backends import StorageError, one_chunk
from storage_backends.ftp import FtpBackend
from storage_backends.ftp_client import parse_features
from storage_backends.ftp_hashes import choose
from tests import test_storage_migration as migrations
from tests.helpers import Api, field, make_type
from tests.rebinding import PUBLIC, Rebinding
from tests.storage_servers import (
    PyFtpd,
    PyFtpsd,
    VariantFtpd,
    Vsftpd,
    descendants,
    hidden_files,
    on_loopback,
)
from tests.test_files import upload
from workspace.net import checked_addresses
from workspace.storage.blobs import run_async

REBOUND = "files.example.test"


def backend_on(server: Any, **overrides: Any) -> FtpBackend:
    """A backend on a test server (a plain one), for an operator who allows loopback."""
    backend = FtpBackend(**(server.config() | overrides))
    on_loopback(backend)
    return backend


@pytest.fixture
def closing() -> Iterator[list[FtpBackend]]:
    """Backends to close after the test (their connection threads)."""
    made: list[FtpBackend] = []
    yield made
    for backend in made:
        backend.close()


async def read(backend: FtpBackend, name: str) -> bytes:
    async with aclosing(backend.get(name)) as chunks:
        return b"".join([chunk async for chunk in chunks])


async def names(backend: FtpBackend) -> list[str]:
    async with aclosing(backend.list()) as found:
        return sorted([name async for name in found])


# ---- connections kept and reused -------------------------------------------------------


def work_in_fresh_loops(backend: FtpBackend, count: int) -> None:
    """What a burst of uploads, a migration or a purge does: each call on an event loop of
    its own (``run_async``, as the services call backends)."""
    for i in range(count):
        name = f"ab/cd/file-{i}"
        run_async(backend.put, name, one_chunk(b"x" * i))
        assert run_async(backend.stat, name).size == i  # type: ignore[union-attr]
        assert run_async(read, backend, name) == b"x" * i
        run_async(backend.delete, name)


def test_operations_on_separate_event_loops_share_one_login(
    vsftpd: Vsftpd, closing: list[FtpBackend]
) -> None:
    backend = backend_on(vsftpd)
    closing.append(backend)
    before = vsftpd.logins()
    work_in_fresh_loops(backend, 5)
    assert vsftpd.logins() - before == 1
    assert backend.pool.opened == 1


def test_without_keeping_connections_every_operation_logs_in(
    vsftpd: Vsftpd, closing: list[FtpBackend]
) -> None:
    backend = backend_on(vsftpd, keep_connections=0)
    closing.append(backend)
    before = vsftpd.logins()
    work_in_fresh_loops(backend, 2)
    assert vsftpd.logins() - before == 2 * 4


def session_processes(server: Vsftpd) -> list[int]:
    assert server.process is not None
    return descendants(server.process.pid)


def test_a_connection_the_server_closed_is_dropped_not_reused(
    vsftpd: Vsftpd, closing: list[FtpBackend]
) -> None:
    backend = backend_on(vsftpd)
    closing.append(backend)
    run_async(backend.put, "ab/cd/kept", one_chunk(b"kept"))
    for pid in session_processes(vsftpd):  # the server ends the session (a restart, a timeout)
        os.kill(pid, signal.SIGKILL)
    assert run_async(read, backend, "ab/cd/kept") == b"kept"
    assert backend.pool.opened == 2


def test_a_connection_that_does_not_answer_noop_is_dropped(
    vsftpd: Vsftpd, closing: list[FtpBackend]
) -> None:
    backend = backend_on(vsftpd, timeout=1)
    closing.append(backend)
    run_async(backend.put, "ab/cd/stuck", one_chunk(b"stuck"))
    stuck = session_processes(vsftpd)
    for pid in stuck:  # the session hangs: the connection stays open, nothing answers
        os.kill(pid, signal.SIGSTOP)
    try:
        # NOOP gets no answer within the check's time: a new connection does the work.
        assert run_async(backend.stat, "ab/cd/stuck").size == 5  # type: ignore[union-attr]
        assert backend.pool.opened == 2
    finally:
        for pid in stuck:
            os.kill(pid, signal.SIGKILL)


def test_concurrent_operations_from_threads_and_tasks(
    vsftpd: Vsftpd, closing: list[FtpBackend]
) -> None:
    backend = backend_on(vsftpd)
    closing.append(backend)
    payloads = {f"c{i:02}/{i:02}/blob": os.urandom(1000 + 4096 * i) for i in range(12)}

    async def round_trip(names: list[str]) -> None:
        await asyncio.gather(*(backend.put(n, one_chunk(payloads[n])) for n in names))
        got = await asyncio.gather(*(read(backend, n) for n in names))
        assert got == [payloads[n] for n in names]

    with ThreadPoolExecutor(max_workers=3) as threads:
        done = [threads.submit(run_async, round_trip, sorted(payloads)[i::3]) for i in range(3)]
        for future in done:
            future.result()
    assert run_async(names, backend) == sorted(payloads)
    assert len(backend.pool._idle) <= 4  # kept afterwards: the rest logged out


def test_close_logs_out_and_ends_the_connection_thread(
    vsftpd: Vsftpd, closing: list[FtpBackend]
) -> None:
    backend = backend_on(vsftpd)
    run_async(backend.put, "ab/cd/closing", one_chunk(b"bye"))
    thread = backend.pool._thread
    assert thread is not None and thread.is_alive()
    quits = vsftpd.protocol().count('"QUIT"')
    backend.close()
    assert not thread.is_alive()
    assert vsftpd.protocol().count('"QUIT"') == quits + 1
    with pytest.raises(StorageError, match="closed"):
        run_async(backend.stat, "ab/cd/closing")


def test_idle_connections_are_closed_and_the_thread_ends(
    pyftpd: PyFtpd, closing: list[FtpBackend]
) -> None:
    backend = backend_on(pyftpd)
    closing.append(backend)
    backend.pool.idle = 0.2
    run_async(backend.put, "ab/cd/idle", one_chunk(b"idle"))
    thread = backend.pool._thread
    assert thread is not None
    thread.join(5)
    assert not thread.is_alive()
    # Used again, it starts over.
    assert run_async(read, backend, "ab/cd/idle") == b"idle"
    assert backend.pool.opened == 2


def test_a_forked_child_logs_in_afresh_and_leaves_the_parents_connection(
    pyftpd: PyFtpd, closing: list[FtpBackend]
) -> None:
    backend = backend_on(pyftpd)
    closing.append(backend)
    run_async(backend.put, "ab/cd/forked", one_chunk(b"fork"))
    child = os.fork()
    if child == 0:  # the child: the parent's loop thread did not come along
        code = 1
        try:
            code = 0 if run_async(backend.stat, "ab/cd/forked").size == 4 else 2  # type: ignore[union-attr]
        finally:
            os._exit(code)
    deadline = time.monotonic() + 20
    while (ended := os.waitpid(child, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if ended[0] == 0:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    assert ended[0] == child and os.waitstatus_to_exitcode(ended[1]) == 0
    assert run_async(read, backend, "ab/cd/forked") == b"fork"
    assert backend.pool.opened == 1  # the parent's own connection is still good


# ---- uploads checked against the server's size and hash ---------------------------------


@pytest.mark.parametrize(
    ("offer", "label"),
    [
        ("hash", "SHA-256"),
        ("xsha256", "SHA-256"),
        ("xsha1", "SHA-1"),
        ("xmd5", "MD5"),
        ("xcrc", "CRC32"),
    ],
)
async def test_uploads_are_checked_with_the_hash_the_server_offers(
    variant_ftpd: VariantFtpd, offer: str, label: str, closing: list[FtpBackend]
) -> None:
    backend = backend_on(variant_ftpd, user=offer)
    damaging = backend_on(variant_ftpd, user=f"{offer}-rot", base_path=str(backend.base))
    closing += [backend, damaging]
    data = os.urandom(300_000)
    await backend.put("ab/cd/good", one_chunk(data))
    assert await read(backend, "ab/cd/good") == data
    asked = "HASH" if offer == "hash" else offer.upper()
    assert hash_asked(variant_ftpd, backend) == [asked]

    with pytest.raises(StorageError) as failed:
        await damaging.put("ab/cd/rotten", one_chunk(data))
    message = failed.value.message
    assert f"writing 'ab/cd/rotten' failed: the server's {label} of the stored bytes" in message
    assert await names(backend) == ["ab/cd/good"]
    assert hidden_files(variant_ftpd.home / backend.base.relative_to("/")) == []


#: Loopback servers: only an operator can open those to admins (test_storage_migration's).
settings = migrations.settings


def test_an_upload_the_server_damaged_gives_503_and_records_nothing(
    api: Api, ws: int, variant_ftpd: VariantFtpd
) -> None:
    # The probe object is too short for the server to damage: the connection test passes.
    migrations.save_draft(api, ws, "ftp", variant_ftpd.config(user="hash-rot"))
    api.post(f"/workspaces/{ws}/storage/migrations", expect=201)
    assert migrations.wait_until_finished(api, ws)["state"] == "done"
    rt, (record,) = make_type(api, ws, "Customer", field("Name", "text"), rows=[{"name": "Ada"}])
    files = f"/workspaces/{ws}/types/{rt['id']}/records/{record['id']}/files"
    body = upload(api, files, ("report.pdf", os.urandom(5000)), expect=503)
    assert body["error"]["message"].startswith("the file storage failed: FTP server ftp://")
    assert "failed: the server's SHA-256 of the stored bytes is" in body["error"]["message"]
    assert api.get(files)["items"] == []


def hash_asked(server: VariantFtpd, backend: FtpBackend) -> list[str]:
    """The hash commands the server answered for files under the backend's base path."""
    lines = server.log().splitlines()
    return [line.split(":")[-1].split()[0] for line in lines if f" {backend.base}/" in line]


@pytest.mark.parametrize("kind", ["plain", "nosize", "bare"])
async def test_without_a_hash_the_size_is_checked_with_what_the_server_has(
    variant_ftpd: VariantFtpd, kind: str, closing: list[FtpBackend]
) -> None:
    # SIZE; without it MLST; without both a listing of the folder.
    backend = backend_on(variant_ftpd, user=kind)
    cutting = backend_on(variant_ftpd, user=f"{kind}-short", base_path=str(backend.base))
    closing += [backend, cutting]
    data = b"y" * 5000
    await backend.put("ab/cd/whole", one_chunk(data))
    assert (await backend.stat("ab/cd/whole")).size == 5000  # type: ignore[union-attr]
    assert await backend.stat("ab/cd") is None
    assert await read(backend, "ab/cd/whole") == data
    with pytest.raises(StorageError, match="failed: the server kept 4999 bytes of 5000"):
        await cutting.put("ab/cd/cut", one_chunk(data))
    assert await names(backend) == ["ab/cd/whole"]
    assert hash_asked(variant_ftpd, backend) == []
    await backend.delete("ab/cd/whole")
    await backend.delete("ab/cd/whole")
    assert not await backend.exists("ab/cd/whole")


def test_features_and_the_choice_of_hash() -> None:
    lines = ["-Features:", " EPSV", " HASH SHA-1;SHA-256*;MD5", " XCRC", " SIZE", " End"]
    features = parse_features(lines)
    assert features == {"EPSV": "", "HASH": "SHA-1;SHA-256*;MD5", "XCRC": "", "SIZE": ""}
    assert choose(features).label == "SHA-256"  # type: ignore[union-attr]
    assert choose({"XCRC": "", "XMD5": ""}).command == "XMD5"  # type: ignore[union-attr]
    assert choose({"HASH": "CRC32", "XSHA1": ""}).command == "XSHA1"  # type: ignore[union-attr]
    assert choose({"SIZE": "", "MLST": "type*;size*;"}) is None


# ---- connections go to the checked address ----------------------------------------------


def checked_by(backend: FtpBackend, *, allow_private: bool) -> FtpBackend:
    """``backend`` with the host check the server gives it (workspace.net)."""
    backend.addresses_for = functools.partial(checked_addresses, allow_private=allow_private)
    return backend


async def test_connections_go_only_to_checked_addresses_whatever_the_name_answers_next(
    pyftpd: PyFtpd, rebinding: Rebinding
) -> None:
    rebinding.answer(REBOUND, PUBLIC, "127.0.0.1")
    backend = checked_by(backend_on(pyftpd, host=REBOUND), allow_private=False)
    try:
        refused = r"connecting to files\.example\.test:\d+: connection refused"
        with pytest.raises(StorageError, match=refused):
            await backend.stat("ab/cd/x")
    finally:
        backend.close()
    assert rebinding.lookups == [REBOUND]
    assert rebinding.to_port(pyftpd.port) == [PUBLIC]


async def test_with_private_hosts_allowed_every_connection_goes_to_the_answer_it_got(
    pyftpd: PyFtpd, rebinding: Rebinding
) -> None:
    # Nothing listens on 127.0.0.2: a second lookup of the name would lead there and fail.
    rebinding.answer(REBOUND, "127.0.0.1", "127.0.0.2")
    backend = checked_by(backend_on(pyftpd, host=REBOUND), allow_private=True)
    try:
        # One login; its control and every data connection (upload, listings, download)
        # went to the first answer.
        await backend.probe()
        await backend.put("ab/cd/pinned", one_chunk(b"pinned"))
        assert await names(backend) == ["ab/cd/pinned"]
    finally:
        backend.close()
    assert rebinding.lookups == [REBOUND]
    assert {address for address, _ in rebinding.connects} == {"127.0.0.1"}
    assert len(rebinding.connects) > 5


async def test_internal_addresses_are_refused_unless_the_operator_allows_them(
    pyftpd: PyFtpd, rebinding: Rebinding
) -> None:
    rebinding.answer(REBOUND, "10.1.2.3")
    for host in (REBOUND, "127.0.0.1"):
        backend = checked_by(backend_on(pyftpd, host=host), allow_private=False)
        try:
            with pytest.raises(StorageError, match="WORKSPACE_ALLOW_PRIVATE_HOSTS") as refused:
                await backend.stat("ab/cd/x")
        finally:
            backend.close()
        assert f": checking 'ab/cd/x' failed: connecting to {host}:" in refused.value.message
    assert rebinding.connects == []


async def test_a_backend_the_server_gave_no_host_check_connects_nowhere(
    pyftpd: PyFtpd, rebinding: Rebinding
) -> None:
    backend = FtpBackend.from_config(pyftpd.config())
    try:
        with pytest.raises(StorageError, match="the server has not said which hosts"):
            await backend.stat("ab/cd/x")
    finally:
        backend.close()
    assert rebinding.connects == []


@pytest.fixture(scope="module")
def named_ftpsd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PyFtpsd]:
    """pyftpdlib with TLS and a certificate for REBOUND only, not for 127.0.0.1."""
    server = PyFtpsd(tmp_path_factory.mktemp("named-ftps"), REBOUND)
    server.start()
    yield server
    server.kill()


async def test_tls_checks_the_name_while_connecting_to_the_checked_address(
    named_ftpsd: PyFtpsd, rebinding: Rebinding
) -> None:
    rebinding.answer(REBOUND, "127.0.0.1", "127.0.0.2")
    backend = FtpBackend.from_config(named_ftpsd.config(host=REBOUND))
    on_loopback(backend)
    try:
        await backend.probe()
    finally:
        backend.close()
    assert rebinding.lookups == [REBOUND]
    assert {address for address, _ in rebinding.connects} == {"127.0.0.1"}
    # The certificate does not name 127.0.0.1: checked against the address, it fails.
    by_address = FtpBackend.from_config(named_ftpsd.config())
    on_loopback(by_address)
    try:
        with pytest.raises(StorageError, match="CERTIFICATE_VERIFY_FAILED"):
            await by_address.stat("ab/cd/x")
    finally:
        by_address.close()
