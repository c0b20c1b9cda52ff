"""Real storage servers on loopback, each in its own process: moto's S3 server with IAM checks
on, pyftpdlib (plain, with TLS, and acting like other servers: tests/ftp_variants_server.py)
and Debian's vsftpd (plain and with TLS); plus a TCP relay that can be cut like a pulled cable,
or made to damage what it carries.

A pytest plugin (see conftest.py): the fixtures ``moto_s3``, ``pyftpd``, ``pyftpsd`` and
``variant_ftpd`` start one server per test module that asks for it and kill it after the module;
``vsftpd`` and ``vsftpsd`` one per test session (and xdist worker).

vsftpd runs as admins run it: local users chrooted to a folder they cannot write to, uploads
into a subfolder, dot-files hidden from listings, no MLST. It needs root (to log a system
user in) and the Debian package (scripts/test-services installs it); without either its tests
fail, they are never skipped."""

from __future__ import annotations

import datetime
import fcntl
import functools
import ipaddress
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from storage_backends.ftp import FtpBackend
from storage_backends.s3 import S3Backend
from workspace import StorageBackend
from workspace.net import checked_addresses

BUCKET = "workspace-files"
FTP_USER, FTP_PASSWORD = "workspace", "s3cret-pw"
VSFTPD = Path("/usr/sbin/vsftpd")
#: The system user vsftpd logs in (local users are real accounts), made once per machine.
VSFTPD_USER = "wsftp-test"


def _running(server: Server) -> Iterator[Any]:
    try:
        server.start()
        if isinstance(server, MotoS3):
            server.setup()
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    yield from _running(MotoS3(tmp_path_factory.mktemp("moto")))


@pytest.fixture(scope="module")
def pyftpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PyFtpd]:
    yield from _running(PyFtpd(tmp_path_factory.mktemp("ftp")))


@pytest.fixture(scope="module")
def pyftpsd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PyFtpsd]:
    yield from _running(PyFtpsd(tmp_path_factory.mktemp("ftps")))


def on_loopback(backend: StorageBackend) -> StorageBackend:
    """``backend`` as the server builds it for an operator who allows private hosts (the
    test servers are on loopback): hosts are checked and looked up by ``workspace.net``."""
    backend.addresses_for = functools.partial(checked_addresses, allow_private=True)
    return backend


@pytest.fixture(scope="module")
def variant_ftpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VariantFtpd]:
    yield from _running(VariantFtpd(tmp_path_factory.mktemp("variant-ftp")))


@pytest.fixture(scope="session")
def vsftpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vsftpd]:
    server = Vsftpd(tmp_path_factory.mktemp("vsftpd"))
    try:
        yield from _running(server)
    finally:
        server.remove()


@pytest.fixture(scope="session")
def vsftpsd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vsftpsd]:
    server = Vsftpsd(tmp_path_factory.mktemp("vsftpsd"))
    try:
        yield from _running(server)
    finally:
        server.remove()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port}")


class Server:
    """A server process of ours on a loopback port, restartable on the same port."""

    name = "server"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        with open(self.workdir / f"{self.name}.log", "ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=log, start_new_session=True
            )
        wait_for_port(self.port, self.process, self.name)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def log(self) -> str:
        return read_log(self.workdir / f"{self.name}.log")


class MotoS3(Server):
    name = "moto"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.url = f"http://127.0.0.1:{self.port}"

    def setup(self) -> None:
        # A user with an S3 policy, then IAM checks on: wrong keys fail as on AWS.
        iam = self.client("iam", "setup", "setup")
        iam.create_user(UserName="workspace")
        policy = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
        iam.put_user_policy(
            UserName="workspace",
            PolicyName="files",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [policy]}),
        )
        key = iam.create_access_key(UserName="workspace")["AccessKey"]
        iam.close()
        self.keys = {"access_key": key["AccessKeyId"], "secret_key": key["SecretAccessKey"]}
        s3 = self.client("s3", *self.keys.values())
        s3.create_bucket(Bucket=BUCKET)
        s3.close()
        request = urllib.request.Request(
            f"{self.url}/moto-api/reset-auth", b"0", {"Content-Type": "text/plain"}
        )
        urllib.request.urlopen(request, timeout=10).close()

    def command(self) -> list[str]:
        # moto's request recorder writes where this says, not into the current folder.
        recording = f"MOTO_RECORDER_FILEPATH={self.workdir / 'recording'}"
        server = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        return ["env", recording, *server]

    @contextmanager
    def recording(self) -> Iterator[list[dict[str, Any]]]:
        """The requests moto receives inside the block (headers, method, url and body as
        base64), through moto's own recorder; the list is filled when the block ends."""
        found: list[dict[str, Any]] = []
        self._moto_api("reset-recording")
        self._moto_api("start-recording")
        try:
            yield found
        finally:
            self._moto_api("stop-recording")
            text = self._moto_api("download-recording")
            found += [json.loads(line) for line in text.splitlines() if line.strip()]

    def _moto_api(self, action: str) -> str:
        request = urllib.request.Request(f"{self.url}/moto-api/recorder/{action}", b"")
        with urllib.request.urlopen(request, timeout=10) as answer:
            return str(answer.read().decode())

    def client(self, service: str, key: str, secret: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            region_name="us-east-1",
        )

    def config(self, **overrides: Any) -> dict[str, Any]:
        base = {"bucket": BUCKET, "endpoint_url": self.url, "prefix": f"t{uuid.uuid4().hex}"}
        return {**base, **self.keys, **overrides}

    def litter(self, backend: StorageBackend) -> list[str]:
        """Multipart uploads still open under the backend's prefix."""
        assert isinstance(backend, S3Backend)
        s3 = self.client("s3", *self.keys.values())
        found = s3.list_multipart_uploads(Bucket=BUCKET, Prefix=backend.prefix)
        s3.close()
        return [upload["Key"] for upload in found.get("Uploads", [])]


class MotoS3Tls(Server):
    """moto's S3 server over HTTPS, certified for the host ``name`` (not for its address),
    without IAM checks; clients trust ``ca_file`` (AWS_CA_BUNDLE for aiobotocore)."""

    name = "moto-tls"

    def __init__(self, workdir: Path, host: str) -> None:
        super().__init__(workdir)
        ca_pem, cert, key = loopback_certificate(host)
        self.ca_file = workdir / "ca.pem"
        self.ca_file.write_text(ca_pem)
        (workdir / "cert.pem").write_bytes(cert)
        (workdir / "key.pem").write_bytes(key)

    def command(self) -> list[str]:
        return [
            *(sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)),
            *("-c", str(self.workdir / "cert.pem"), "-k", str(self.workdir / "key.pem")),
        ]


class PyFtpd(Server):
    name = "pyftpdlib"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.home = workdir / "ftp-home"
        self.home.mkdir()

    def command(self) -> list[str]:
        return [
            *(sys.executable, "-m", "pyftpdlib", "-i", "127.0.0.1", "-p", str(self.port)),
            *("-d", str(self.home), "-w", "-u", FTP_USER, "-P", FTP_PASSWORD),
        ]

    def config(self, **overrides: Any) -> dict[str, Any]:
        base = {"host": "127.0.0.1", "port": self.port, "user": FTP_USER}
        base |= {"password": FTP_PASSWORD, "base_path": f"/t{uuid.uuid4().hex}"}
        return base | overrides

    def litter(self, backend: StorageBackend) -> list[str]:
        assert isinstance(backend, FtpBackend)
        return hidden_files(self.home / backend.base.relative_to("/"))


class PyFtpsd(PyFtpd):
    """pyftpdlib requiring TLS on control and data connections (explicit FTPS), with a
    certificate for 127.0.0.1 (or only for the host ``names``) signed by a throw-away CA
    the backend is told to trust."""

    name = "pyftpdlib-tls"

    def __init__(self, workdir: Path, *names: str) -> None:
        super().__init__(workdir)
        self.ca_pem, cert_pem, key_pem = loopback_certificate(*names)
        (workdir / "cert.pem").write_bytes(cert_pem)
        (workdir / "key.pem").write_bytes(key_pem)

    def command(self) -> list[str]:
        return [
            *super().command(),
            *("--tls", "--certfile", str(self.workdir / "cert.pem")),
            *("--keyfile", str(self.workdir / "key.pem")),
            *("--tls-control-required", "--tls-data-required"),
        ]

    def config(self, **overrides: Any) -> dict[str, Any]:
        return super().config(**{"tls": True, "ca_cert": self.ca_pem, **overrides})


class VariantFtpd(PyFtpd):
    """pyftpdlib acting as another kind of server for each user: offering hash commands,
    lacking SIZE or MLST, damaging what it stores (tests/ftp_variants_server.py)."""

    name = "pyftpdlib-variants"

    def command(self) -> list[str]:
        return [
            *(sys.executable, "-m", "tests.ftp_variants_server", "--port", str(self.port)),
            *("--home", str(self.home), "--password", FTP_PASSWORD),
        ]


class Vsftpd(Server):
    """Debian's vsftpd with a config of its own on a loopback port: the local user
    VSFTPD_USER chrooted to ``root`` (which it may not write to) and uploading under
    ``/files``. Everything else is vsftpd's default: dot-files hidden from listings, no MLST,
    TLS sessions reused on data connections (``require_ssl_reuse``). ``seccomp_sandbox``,
    ``isolate`` and ``isolate_network`` are off: containers refuse those system calls."""

    name = "vsftpd"
    tls = False

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        if not VSFTPD.exists():
            raise RuntimeError(f"{VSFTPD} is missing: run scripts/test-services to install it")
        if os.geteuid() != 0:
            raise RuntimeError("vsftpd logs local users in only when started as root")
        ensure_system_user(VSFTPD_USER, FTP_PASSWORD)
        # Outside pytest's own temporary folders (mode 0700): the FTP user must get in.
        self.root = Path(tempfile.mkdtemp(prefix="vsftpd-root-"))
        self.root.chmod(0o755)
        (self.root / "files").mkdir()
        shutil.chown(self.root / "files", VSFTPD_USER)
        (self.workdir / "vsftpd.conf").write_text(self.settings())

    def settings(self) -> str:
        lines = [
            *("listen=YES", "listen_ipv6=NO", "listen_address=127.0.0.1"),
            *(f"listen_port={self.port}", "background=NO", "connect_from_port_20=NO"),
            *("anonymous_enable=NO", "local_enable=YES", "write_enable=YES"),
            *("chroot_local_user=YES", f"local_root={self.root}", "pam_service_name=vsftpd"),
            *("seccomp_sandbox=NO", "isolate=NO", "isolate_network=NO"),
            *("xferlog_enable=YES", "xferlog_std_format=NO", "log_ftp_protocol=YES"),
            f"vsftpd_log_file={self.workdir / 'protocol.log'}",
        ]
        return "\n".join(lines) + "\n"

    def command(self) -> list[str]:
        return [str(VSFTPD), str(self.workdir / "vsftpd.conf")]

    def kill(self) -> None:
        """Kill the listener and its sessions: each session makes itself a session leader,
        out of reach of the listener's process group."""
        if self.process is not None and self.process.poll() is None:
            for pid in descendants(self.process.pid):
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        super().kill()

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def config(self, **overrides: Any) -> dict[str, Any]:
        base = {"host": "127.0.0.1", "port": self.port, "user": VSFTPD_USER}
        base |= {"password": FTP_PASSWORD, "base_path": f"/files/t{uuid.uuid4().hex}"}
        return base | overrides

    def litter(self, backend: StorageBackend) -> list[str]:
        assert isinstance(backend, FtpBackend)
        return hidden_files(self.root / backend.base.relative_to("/"))

    def logins(self) -> int:
        """Logins so far (vsftpd logs each as OK LOGIN)."""
        return self.protocol().count("OK LOGIN")

    def protocol(self) -> str:
        """Every command and answer so far (vsftpd's ``log_ftp_protocol``)."""
        return read_log(self.workdir / "protocol.log")


class Vsftpsd(Vsftpd):
    """vsftpd requiring TLS for logins and data (its defaults once ``ssl_enable`` is on),
    with the throw-away CA's certificate for 127.0.0.1. ``ssl_ciphers=HIGH`` because the
    default of vsftpd 3.0.3 (DES-CBC3-SHA) is refused by OpenSSL 3."""

    name = "vsftpd-tls"
    tls = True

    def __init__(self, workdir: Path) -> None:
        self.ca_pem, cert_pem, key_pem = loopback_certificate()
        (workdir / "cert.pem").write_bytes(cert_pem)
        (workdir / "key.pem").write_bytes(key_pem)
        super().__init__(workdir)

    def settings(self) -> str:
        return super().settings() + "\n".join(
            [
                "ssl_enable=YES",
                f"rsa_cert_file={self.workdir / 'cert.pem'}",
                f"rsa_private_key_file={self.workdir / 'key.pem'}",
                "ssl_ciphers=HIGH",
                "",
            ]
        )

    def config(self, **overrides: Any) -> dict[str, Any]:
        return super().config(**{"tls": True, "ca_cert": self.ca_pem, **overrides})


def read_log(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def descendants(pid: int) -> list[int]:
    """The processes ``pid`` started, and those they started, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # ended meanwhile
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def ensure_system_user(name: str, password: str) -> None:
    """Create the system account ``name`` with ``password`` unless it exists (as root; a
    file lock keeps xdist workers from editing /etc/shadow at once)."""
    with open(Path(tempfile.gettempdir()) / "workspace-test-users.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            pwd.getpwnam(name)
        except KeyError:
            # A shell from /etc/shells (PAM's pam_shells) and / as home (vsftpd enters it).
            subprocess.run(
                ["useradd", "--no-create-home", "--home-dir", "/", "--shell", "/bin/sh", name],
                check=True,
            )
            subprocess.run(["chpasswd"], input=f"{name}:{password}".encode(), check=True)


def loopback_certificate(*names: str) -> tuple[str, bytes, bytes]:
    """A CA certificate (PEM text), and a server certificate and key (PEM) it signed for
    the IP address 127.0.0.1, or for the host ``names`` instead (and not that address)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "workspace test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "127.0.0.1")])
        )
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(name) for name in names]
                or [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pem = serialization.Encoding.PEM
    return ca.public_bytes(pem).decode(), cert.public_bytes(pem), key_pem


class Relay:
    """A TCP relay to a server that can be cut like a pulled cable: every connection drops
    and new ones are refused."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            with self.lock:
                self.sockets += [client, upstream]
            for a, b, change in ((client, upstream, self.outbound), (upstream, client, None)):
                threading.Thread(target=self._pump, args=(a, b, change), daemon=True).start()

    def outbound(self, data: bytes) -> bytes:
        """What reaches the server of the bytes the client sent (a subclass may damage them)."""
        return data

    @staticmethod
    def _pump(
        source: socket.socket, sink: socket.socket, change: Callable[[bytes], bytes] | None
    ) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(change(data) if change else data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def cut(self) -> None:
        with self.lock:
            for sock in [self.listener, *self.sockets]:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


class FlippingRelay(Relay):
    """A relay whose line damages requests: every 0xFF byte the client sends reaches the
    server as 0xFE (HTTP headers never hold one, so only bodies are hit)."""

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.flipped = 0

    def outbound(self, data: bytes) -> bytes:
        self.flipped += data.count(0xFF)
        return data.replace(b"\xff", b"\xfe")


def hidden_files(root: Path) -> list[str]:
    return [
        str(Path(folder, name).relative_to(root))
        for folder, _, names in os.walk(root)
        for name in names
        if name.startswith(".")
    ]
