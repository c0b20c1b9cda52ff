"""Real storage servers on loopback for tests/test_storage_backends.py, each in its own
process: moto's S3 server with IAM checks on, and pyftpdlib; plus a TCP relay that can be cut
like a pulled cable."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from contextlib import suppress
from pathlib import Path
from typing import Any

import boto3

from storage_backends.ftp import FtpBackend
from storage_backends.s3 import S3Backend
from workspace import StorageBackend

BUCKET = "workspace-files"
FTP_USER, FTP_PASSWORD = "workspace", "s3cret-pw"


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
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]

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
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def cut(self) -> None:
        with self.lock:
            for sock in [self.listener, *self.sockets]:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


def hidden_files(root: Path) -> list[str]:
    return [
        str(Path(folder, name).relative_to(root))
        for folder, _, names in os.walk(root)
        for name in names
        if name.startswith(".")
    ]
