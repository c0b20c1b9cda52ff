"""One contract suite for every storage backend, each against a real server on loopback.

- local: a temporary folder;
- s3: moto's server mode in its own process (``python -m moto.server``), with IAM checks on,
  reached over HTTP by aioboto3 exactly as in production;
- ftp: pyftpdlib in its own process (not aioftp's server: client and server share no code);
- ftps: the same with TLS required on control and data connections, under a throw-away CA;
- vsftpd, vsftpds: Debian's vsftpd as admins run it (chrooted local user, dot-files hidden
  from listings, no MLST), plain and with TLS (which it starts on a data connection only
  after the transfer command, and with the control connection's TLS session).

Outages are real: the FTP server process is killed mid-upload and restarted; S3 traffic goes
through a TCP relay that is cut mid-upload (killing moto would lose its in-memory state, and
with it the proof that nothing was left behind), or that damages the bytes it carries.

S3 connections go only to checked addresses: names whose answer changes between lookups
(tests/rebinding.py) show where they go.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import random
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from storage_backends import BadConfig, StorageBackendRegistry, one_chunk
from storage_backends.ftp import FtpBackend
from storage_backends.local import LocalBackend
from storage_backends.s3 import S3Backend
from tests.rebinding import PUBLIC, Rebinding
from tests.storage_servers import (
    FlippingRelay,
    MotoS3,
    MotoS3Tls,
    Relay,
    free_port,
    hidden_files,
    on_loopback,
)
from workspace import (
    ObjectNotFound,
    StorageBackend,
    StorageError,
    hookimpl,
)
from workspace.net import check_host, checked_addresses
from workspace.plugins import make_plugin_manager
from workspace.settings import Settings

KINDS = ["local", "s3", "ftp", "ftps", "vsftpd", "vsftpds"]
#: The server fixture of each FTP kind under test.
FTP_SERVERS = {"ftp": "pyftpd", "ftps": "pyftpsd", "vsftpd": "vsftpd", "vsftpds": "vsftpsd"}
CHUNK = 64 * 1024
MB = 1_000_000


@dataclass
class Harness:
    """One backend kind under test: builds backends and finds what failed uploads left."""

    kind: str
    config: Callable[..., dict[str, Any]]
    litter: Callable[[StorageBackend], list[str]]
    server: Any = None
    made: list[StorageBackend] = field(default_factory=list)

    def backend(self, **overrides: Any) -> StorageBackend:
        registry = StorageBackendRegistry()
        for cls in (LocalBackend, S3Backend, FtpBackend):
            registry.register(cls)
        made = on_loopback(registry.create(self.kind, self.config(**overrides)))
        self.made.append(made)
        return made

    def close(self) -> None:
        for backend in self.made:
            if isinstance(backend, FtpBackend):
                backend.close()


@pytest.fixture(params=KINDS)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    if request.param == "s3":
        s3: MotoS3 = request.getfixturevalue("moto_s3")
        made = Harness("s3", s3.config, s3.litter, s3)
    elif request.param in FTP_SERVERS:
        ftp = request.getfixturevalue(FTP_SERVERS[request.param])
        made = Harness("ftp", ftp.config, ftp.litter, ftp)
    else:
        root = tmp_path / "files"
        made = Harness(
            "local",
            lambda **overrides: {"path": str(root), **overrides},
            lambda backend: hidden_files(root) if root.exists() else [],
        )
    yield made
    made.close()


@pytest.fixture
def backend(harness: Harness) -> StorageBackend:
    return harness.backend()


# ---- payloads --------------------------------------------------------------------------


def pattern(size: int) -> Iterator[bytes]:
    """``size`` reproducible bytes in chunks; no two chunks alike."""
    block = random.Random(size).randbytes(CHUNK)
    for offset in range(0, size, CHUNK):
        yield (offset.to_bytes(8, "big") + block[8:])[: min(CHUNK, size - offset)]


def digest(size: int) -> str:
    sha = hashlib.sha256()
    for chunk in pattern(size):
        sha.update(chunk)
    return sha.hexdigest()


async def produce(
    size: int, at: int | None = None, then: Callable[[], Awaitable[None]] | None = None
) -> AsyncIterator[bytes]:
    """Yield ``pattern(size)``; once ``at`` bytes are out, await ``then`` (once)."""
    sent = 0
    for chunk in pattern(size):
        if then is not None and at is not None and sent >= at:
            await then()
            then = None
        yield chunk
        sent += len(chunk)


async def read(backend: StorageBackend, name: str) -> tuple[int, str]:
    sha, size = hashlib.sha256(), 0
    async with aclosing(backend.get(name)) as chunks:
        async for chunk in chunks:
            sha.update(chunk)
            size += len(chunk)
    return size, sha.hexdigest()


async def names(backend: StorageBackend, prefix: str = "") -> list[str]:
    async with aclosing(backend.list(prefix)) as found:
        return sorted([name async for name in found])


def hash_name(seed: str) -> str:
    sha = hashlib.sha256(seed.encode()).hexdigest()
    return f"{sha[:2]}/{sha[2:4]}/{sha}"


# ---- the contract ----------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 10 * MB])
async def test_round_trip(backend: StorageBackend, size: int) -> None:
    name = hash_name(f"round-trip-{size}")
    assert await backend.put(name, produce(size)) == size
    assert await read(backend, name) == (size, digest(size))
    assert (await backend.stat(name)).size == size  # type: ignore[union-attr]
    assert await backend.exists(name)
    assert await names(backend) == [name]


async def test_put_of_the_same_name_replaces_the_object(backend: StorageBackend) -> None:
    name = hash_name("twice")
    await backend.put(name, produce(3 * CHUNK))
    assert await backend.put(name, produce(100)) == 100
    assert await read(backend, name) == (100, digest(100))
    assert await names(backend) == [name]


async def test_exists_stat_delete_and_list(backend: StorageBackend) -> None:
    stored = ["ab/cd/one", "ab/ce/two", "ab/three", "b0/four", "five"]
    for size, name in enumerate(stored):
        await backend.put(name, produce(size))
    assert await names(backend) == sorted(stored)
    assert await names(backend, "ab/") == ["ab/cd/one", "ab/ce/two", "ab/three"]
    assert await names(backend, "ab/c") == ["ab/cd/one", "ab/ce/two"]
    assert await names(backend, "zz/") == []
    assert (await backend.stat("ab/ce/two")).size == 1  # type: ignore[union-attr]

    await backend.delete("ab/ce/two")
    await backend.delete("ab/ce/two")  # a second delete is not an error
    assert not await backend.exists("ab/ce/two")
    assert await backend.stat("ab/ce/two") is None
    assert await backend.stat("ab") is None  # a folder is not an object
    with pytest.raises(ObjectNotFound, match="no object 'ab/ce/two'"):
        await read(backend, "ab/ce/two")
    assert await names(backend) == sorted(set(stored) - {"ab/ce/two"})


async def test_a_failing_stream_leaves_the_old_object_and_no_litter(harness: Harness) -> None:
    backend = harness.backend()
    name = hash_name("half")
    await backend.put(name, produce(10))

    async def fail() -> None:
        raise ConnectionAbortedError("the browser went away")

    # 9 MB: past the first 8 MiB part, so S3 has a multipart upload to abort.
    with pytest.raises(ConnectionAbortedError, match="browser went away"):
        await backend.put(name, produce(20 * MB, at=9 * MB, then=fail))
    assert await read(backend, name) == (10, digest(10))
    assert await names(backend) == [name]
    assert harness.litter(backend) == []


@pytest.mark.parametrize("harness", ["s3", "ftp", "vsftpd"], indirect=True)
async def test_an_outage_mid_upload_is_a_clear_error_and_leaves_nothing(
    harness: Harness,
) -> None:
    name = hash_name("outage")
    if harness.kind == "s3":
        relay = Relay(harness.server.port)
        config = harness.config(endpoint_url=f"http://127.0.0.1:{relay.port}", timeout=5)
        backend = harness.backend(**config)
        direct = harness.backend(prefix=config["prefix"])
        stop, restore = relay.cut, lambda: None
    else:
        backend = harness.backend(timeout=5)
        direct = backend
        stop, restore = harness.server.kill, harness.server.start

    async def outage() -> None:
        stop()

    try:
        with pytest.raises(StorageError) as failed:
            await backend.put(name, produce(30 * MB, at=9 * MB, then=outage))
    finally:
        restore()
    assert failed.value.message.startswith(f"{backend.location}: writing {name!r} failed: ")
    assert not await direct.exists(name)
    assert await names(direct) == []


BAD_NAMES = [
    "../escape",
    "ab/../../escape",
    "/etc/passwd",
    "ab\\cd",
    "AB/cd",
    "ab//cd",
    "ab/",
    ".hidden",
    "ab/./cd",
    "ab/..",
    "",
    "caf\u00e9",
    "a b",
    "x" * 600,
]


@pytest.mark.parametrize("bad", BAD_NAMES)
async def test_names_outside_the_contract_are_refused(backend: StorageBackend, bad: str) -> None:
    with pytest.raises(ValueError, match="invalid storage object name"):
        await backend.put(bad, produce(1))
    with pytest.raises(ValueError, match="invalid storage object name"):
        await read(backend, bad)
    for operation in (backend.delete, backend.exists, backend.stat):
        with pytest.raises(ValueError, match="invalid storage object name"):
            await operation(bad)


@pytest.mark.parametrize("bad", ["../", "/ab", "ab/../", "ab\\", "ab/.", "AB"])
async def test_list_prefixes_outside_the_contract_are_refused(
    backend: StorageBackend, bad: str
) -> None:
    with pytest.raises(ValueError, match="invalid storage name prefix"):
        await names(backend, bad)


async def test_probe_writes_reads_back_and_deletes(backend: StorageBackend) -> None:
    await backend.probe()
    assert await names(backend) == []


def dead_port() -> int:
    return free_port()  # nothing listens there


PROBE_FAILURES = [
    ("s3", lambda: {"endpoint_url": f"http://127.0.0.1:{dead_port()}"}, "Could not connect"),
    ("s3", lambda: {"secret_key": "wrong"}, "SignatureDoesNotMatch"),
    ("s3", lambda: {"access_key": "AKIAWRONGWRONGWRONG0"}, "InvalidAccessKeyId"),
    ("s3", lambda: {"bucket": "no-such-bucket"}, "NoSuchBucket"),
    ("ftp", lambda: {"port": dead_port()}, ": connecting to 127.0.0.1:"),
    ("ftp", lambda: {"password": "wrong"}, ": logging in as 'workspace': the server answered 530"),
    ("ftps", lambda: {"password": "wrong"}, ": logging in as 'workspace': the server answered 530"),
    # Without TLS the server refuses the login in clear text.
    ("ftps", lambda: {"tls": False, "ca_cert": None}, ": logging in as 'workspace'"),
    # A certificate from a CA the backend does not trust is refused before logging in.
    (
        "ftps",
        lambda: {"ca_cert": None},
        ": starting TLS (AUTH TLS): [SSL: CERTIFICATE_VERIFY_FAILED]",
    ),
    (
        "vsftpd",
        lambda: {"password": "wrong"},
        ": logging in as 'wsftp-test': the server answered 530",
    ),
    ("vsftpds", lambda: {"tls": False, "ca_cert": None}, "530 Non-anonymous sessions must use"),
    (
        "vsftpds",
        lambda: {"ca_cert": None},
        ": starting TLS (AUTH TLS): [SSL: CERTIFICATE_VERIFY_FAILED]",
    ),
    # The chroot of a local user is a folder it may not write to: say to use a subfolder.
    (
        "vsftpd",
        lambda: {"base_path": "/"},
        "may not write to the top folder / of this server, as on a chrooted vsftpd: set the "
        "base path to a folder the user may write to",
    ),
]


@pytest.mark.parametrize(("harness", "overrides", "expected"), PROBE_FAILURES, indirect=["harness"])
async def test_a_failed_probe_says_what_failed(
    harness: Harness, overrides: Callable[[], dict[str, Any]], expected: str
) -> None:
    backend = harness.backend(**overrides())
    with pytest.raises(StorageError) as failed:
        await backend.probe()
    message = failed.value.message
    assert message.startswith(f"Test connection to {backend.location} failed writing a probe")
    assert expected in message


@pytest.mark.parametrize("harness", ["local"], indirect=True)
async def test_a_local_probe_says_what_failed(harness: Harness, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    backend = harness.backend(path=str(tmp_path / "a-file" / "files"))
    with pytest.raises(StorageError, match="failed writing a probe object: Not a directory"):
        await backend.probe()


@pytest.mark.parametrize("harness", ["s3", "ftp"], indirect=True)
async def test_a_server_that_never_answers_times_out(harness: Harness) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # listens, never answers
        port = silent.getsockname()[1]
        where = {"s3": {"endpoint_url": f"http://127.0.0.1:{port}"}, "ftp": {"port": port}}
        backend = harness.backend(timeout=0.3, **where[harness.kind])
        started = time.monotonic()
        with pytest.raises(StorageError, match=r"timed out after 0\.3 s"):
            await backend.stat("ab/cd")
    assert time.monotonic() - started < 15


# ---- S3: connections to checked addresses, uploads verified on the way in -----------------


def s3(config: dict[str, Any], allow_private: bool) -> S3Backend:
    backend = S3Backend.from_config(config)
    backend.addresses_for = functools.partial(checked_addresses, allow_private=allow_private)
    return backend


async def test_s3_connects_only_to_checked_addresses_whatever_the_name_answers_next(
    moto_s3: MotoS3, rebinding: Rebinding
) -> None:
    rebinding.answer("objectstore", PUBLIC, "127.0.0.1")
    config = moto_s3.config(endpoint_url=f"http://objectstore:{moto_s3.port}", timeout=2)
    # The server checks the endpoint when it builds the backend (storage.configs.build).
    check_host("objectstore", allow_private=False)
    backend = s3(config, allow_private=False)
    name = hash_name("rebinding")
    with pytest.raises(StorageError, match="WORKSPACE_ALLOW_PRIVATE_HOSTS"):
        await backend.put(name, one_chunk(b"to loopback?"))
    assert rebinding.to_port(moto_s3.port) == []
    assert not await s3(moto_s3.config(prefix=config["prefix"]), allow_private=True).exists(name)


async def test_s3_with_private_hosts_allowed_still_connects_to_the_answer_it_got(
    moto_s3: MotoS3, rebinding: Rebinding
) -> None:
    # Nothing listens on 127.0.0.2: a second lookup of the name would lead there and fail.
    # (A name without dots: moto reads a dotted one as a bucket's virtual host.)
    rebinding.answer("objectstore", "127.0.0.1", "127.0.0.2")
    config = moto_s3.config(endpoint_url=f"http://objectstore:{moto_s3.port}")
    name = hash_name("pinned")
    # A multipart upload: five requests, signed for the name (moto checks the signatures).
    assert await s3(config, allow_private=True).put(name, produce(9 * MB)) == 9 * MB
    assert rebinding.lookups == ["objectstore"]
    assert set(rebinding.to_port(moto_s3.port)) == {"127.0.0.1"}
    direct = s3(moto_s3.config(prefix=config["prefix"]), allow_private=True)
    assert await read(direct, name) == (9 * MB, digest(9 * MB))


async def test_s3_over_tls_checks_the_certificate_against_the_endpoint_name(
    tmp_path: Path, rebinding: Rebinding, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = MotoS3Tls(tmp_path, "objectstore")  # certified for that name, not 127.0.0.1
    rebinding.answer("objectstore", "127.0.0.1")
    rebinding.answer("otherstore", "127.0.0.1")
    monkeypatch.setenv("AWS_CA_BUNDLE", str(server.ca_file))
    server.start()
    try:
        url = f"https://objectstore:{server.port}"
        keys = {"aws_access_key_id": "k", "aws_secret_access_key": "s"}
        boto3.client("s3", endpoint_url=url, region_name="us-east-1", **keys).create_bucket(
            Bucket="tls-files"
        )
        config = {
            "bucket": "tls-files",
            "endpoint_url": url,
            **dict(access_key="k", secret_key="s"),
        }
        backend = s3(config, allow_private=True)
        name = hash_name("over tls")
        await backend.put(name, one_chunk(b"sealed"))
        assert await read(backend, name) == (6, hashlib.sha256(b"sealed").hexdigest())
        other = s3({**config, "endpoint_url": f"https://otherstore:{server.port}"}, True)
        with pytest.raises(StorageError, match="CERTIFICATE_VERIFY_FAILED"):
            await other.stat(name)
    finally:
        server.kill()
    assert set(rebinding.to_port(server.port)) == {"127.0.0.1"}


async def test_s3_refuses_internal_endpoints_unless_the_operator_allows_them(
    moto_s3: MotoS3, rebinding: Rebinding
) -> None:
    rebinding.answer("s3.internal.test", "10.1.2.3")
    for endpoint in (moto_s3.url, "http://s3.internal.test:9000"):
        backend = s3(moto_s3.config(endpoint_url=endpoint, timeout=2), allow_private=False)
        with pytest.raises(StorageError, match="WORKSPACE_ALLOW_PRIVATE_HOSTS") as refused:
            await backend.stat("ab/cd")
        assert refused.value.message.startswith(backend.location)
    assert rebinding.connects == []


async def test_s3_uploads_send_the_content_md5_of_every_body(moto_s3: MotoS3) -> None:
    backend = s3(moto_s3.config(), allow_private=True)
    with moto_s3.recording() as requests:
        await backend.put(hash_name("md5-small"), one_chunk(b"small" * 200))
        await backend.put(hash_name("md5-big"), produce(9 * MB))
    puts = [r for r in requests if r["method"] == "PUT"]
    assert len(puts) == 3  # one PutObject, two UploadParts
    for put in puts:
        body = base64.b64decode(put["body"])
        headers = {key.lower(): value for key, value in put["headers"].items()}
        md5 = hashlib.md5(body, usedforsecurity=False).digest()
        assert headers["content-md5"] == base64.b64encode(md5).decode()


def with_one_ff(size: int) -> bytes:
    """``size`` bytes holding 0xFF once, in the last part of a multipart upload."""
    data = bytearray(random.Random(size).randbytes(size).replace(b"\xff", b"\x00"))
    data[-1] = 0xFF
    return bytes(data)


@pytest.mark.parametrize("size", [1000, 9 * MB], ids=["put", "multipart"])
async def test_s3_refuses_bytes_damaged_on_the_way_and_keeps_nothing(
    moto_s3: MotoS3, size: int
) -> None:
    relay = FlippingRelay(moto_s3.port)
    config = moto_s3.config(endpoint_url=f"http://127.0.0.1:{relay.port}")
    backend = s3(config, allow_private=True)
    direct = s3(moto_s3.config(prefix=config["prefix"]), allow_private=True)
    name, data = hash_name(f"damaged {size}"), with_one_ff(size)
    with pytest.raises(StorageError, match="received other bytes than were sent") as failed:
        await backend.put(name, one_chunk(data))
    assert relay.flipped == 1
    assert failed.value.message.startswith(f"{backend.location}: writing {name!r} failed: ")
    assert not await direct.exists(name)
    assert moto_s3.litter(direct) == []
    # The same line carries bytes it does not damage.
    clean = data.replace(b"\xff", b"\x00")
    assert await backend.put(name, one_chunk(clean)) == size
    assert await read(direct, name) == (size, hashlib.sha256(clean).hexdigest())
    relay.cut()


# ---- configuration and registration --------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "config", "fields"),
    [
        ("local", {}, {"path": "is required"}),
        ("s3", {"region": "eu-west-1"}, {"bucket": "is required"}),
        ("s3", {"bucket": "b", "access_key": "k"}, {"secret_key": "is required"}),
        ("s3", {"bucket": "b", "endpoint_url": "ftp://x"}, {"endpoint_url": "must be an"}),
        ("s3", {"bucket": "b", "timeout": "soon"}, {"timeout": "must be a number"}),
        ("ftp", {"host": "h", "port": "21"}, {"port": "must be a whole number"}),
        ("ftp", {"host": "h", "base_path": "../up"}, {"base_path": "must start with /"}),
        ("ftp", {"host": "h", "passive_commands": ["port"]}, {"passive_commands": "must list"}),
        ("ftp", {"host": "h", "pasword": "typo"}, {"pasword": "is not a setting"}),
        ("ftp", {"host": "h", "password": "x\r\nDELE /a"}, {"password": "must be one line"}),
        ("ftp", {"host": "h", "tls": "yes"}, {"tls": "must be true or false"}),
        ("ftp", {"host": "h", "tls": True, "ca_cert": "not a cert"}, {"ca_cert": "must be a PEM"}),
        ("ftp", {"host": "h", "ca_cert": "-----BEGIN"}, {"ca_cert": "applies only with tls on"}),
    ],
)
def test_config_errors_name_the_key(
    kind: str, config: dict[str, Any], fields: dict[str, str]
) -> None:
    registry = StorageBackendRegistry()
    for cls in (LocalBackend, S3Backend, FtpBackend):
        registry.register(cls)
    with pytest.raises(BadConfig) as failed:
        registry.create(kind, config)
    assert failed.value.fields.keys() == fields.keys()
    for key, reason in fields.items():
        assert failed.value.fields[key].startswith(reason)
        assert key in failed.value.message


def test_backends_register_through_the_plugin_hook(tmp_path: Path) -> None:
    class Memory(LocalBackend):
        kind = "memory"

    class ThirdParty:
        @hookimpl
        def register_storage_backends(self, register: Any) -> None:
            register(Memory)

    pm = make_plugin_manager(Settings(database_url="sqlite://", data_dir=tmp_path))
    pm.register(ThirdParty(), name="test-storage")
    registry = StorageBackendRegistry()
    pm.hook.register_storage_backends(register=registry.register)
    assert registry.names() == ["ftp", "local", "memory", "s3"]
    assert isinstance(registry.create("local", {"path": str(tmp_path)}), LocalBackend)
    with pytest.raises(ValueError, match="'local' is registered twice"):
        registry.register(LocalBackend)
    with pytest.raises(LookupError, match="unknown storage backend 'nfs'"):
        registry.get("nfs")
