"""Connections to a customer's MySQL go to the address that was checked: the engines' pooled
connections (reconnections included) and the test connection, against the test MariaDB on
127.0.0.1:3306 reached through names whose answer changes between lookups
(tests/rebinding.py)."""

from __future__ import annotations

import contextlib
import socket
import ssl
import tempfile
import threading
import types
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.customer_mysql import DB, PASSWORD, USER, customer, customer_settings
from tests.rebinding import PUBLIC, Rebinding
from tests.storage_servers import loopback_certificate
from workspace import crypto
from workspace.data_engines import DataEngines
from workspace.databases.checks import ConnectionFailed, Target, check
from workspace.db import dispose, transaction
from workspace.errors import Unavailable

__all__ = ["customer"]  # the fixture: the customer's database and users

NAME = "customer-db"


def engines(tmp_path: Path, *, allow_private: bool) -> DataEngines:
    settings = customer_settings("sqlite://", tmp_path, allow_private_hosts=allow_private)
    return DataEngines(settings)


def row(found: DataEngines) -> Any:
    """A ``data_databases`` row for the customer's database at :data:`NAME`."""
    sealed = crypto.seal(found.settings.resolved_secret_key(), {"password": PASSWORD})
    return types.SimpleNamespace(
        id=1,
        version=1,
        host=NAME,
        port=3306,
        user_name=USER,
        database_name=DB,
        tls=False,
        ca_cert=None,
        sealed=sealed,
    )


def ask(found: DataEngines) -> Any:
    with transaction(found.engine_of(row(found))) as conn:
        return conn.execute(text("SELECT DATABASE()")).scalar_one()


def test_a_rebound_name_never_leads_an_engine_to_loopback(
    customer: None, tmp_path: Path, rebinding: Rebinding
):
    rebinding.answer(NAME, PUBLIC, "127.0.0.1")
    found = engines(tmp_path, allow_private=False)
    try:
        with pytest.raises(Unavailable, match="WORKSPACE_ALLOW_PRIVATE_HOSTS"):
            ask(found)  # built on the checked public answer; the connection's own lookup
    finally:
        found.close()
    assert rebinding.lookups == [NAME, NAME]
    assert rebinding.to_port(3306) == []


def test_each_new_connection_goes_to_the_answer_of_its_own_lookup(
    customer: None, tmp_path: Path, rebinding: Rebinding
):
    # Building checks the name; the first connection looks it up again and connects to that
    # answer (PyMySQL would look up 127.0.0.2, where nothing listens). After the pool was
    # emptied, the next connection looks up afresh and goes where that answer says.
    rebinding.answer(NAME, "127.0.0.1", "127.0.0.1", "127.0.0.2")
    found = engines(tmp_path, allow_private=True)
    try:
        assert ask(found) == DB
        assert ask(found) == DB  # the pooled connection: no lookup
        assert rebinding.lookups == [NAME, NAME]
        dispose(found.engine_of(row(found)))
        with pytest.raises(Unavailable, match="is not answering"):
            ask(found)
    finally:
        found.close()
    assert rebinding.lookups == [NAME, NAME, NAME]
    assert rebinding.to_port(3306) == ["127.0.0.1", "127.0.0.2"]


def target() -> Target:
    return Target(NAME, 3306, DB, USER, PASSWORD, False, None)


def test_the_test_connection_connects_to_the_address_it_checked(
    customer: None, rebinding: Rebinding
):
    rebinding.answer(NAME, PUBLIC, "127.0.0.1")
    with pytest.raises(ConnectionFailed) as failed:
        check(target(), allow_private=False, timeout=2)
    assert failed.value.step == "tcp"
    assert rebinding.lookups == [NAME]
    assert rebinding.to_port(3306) == [PUBLIC]


def test_the_test_connection_logs_in_over_the_connection_it_checked(
    customer: None, rebinding: Rebinding
):
    rebinding.answer(NAME, "127.0.0.1", "127.0.0.2")
    assert check(target(), allow_private=True, timeout=2)["server_version"].startswith("MariaDB")
    assert rebinding.lookups == [NAME]
    assert rebinding.to_port(3306) == ["127.0.0.1"]


# ---- TLS: the certificate is checked against the name, over the pinned connection ---------


class TlsGreeter:
    """Just enough of a MySQL server on loopback to speak TLS: a greeting that offers TLS,
    the client's switch to TLS under a certificate for ``names``, then "access denied" for
    whatever login follows."""

    def __init__(self, *names: str) -> None:
        self.ca_pem, cert, key = loopback_certificate(*names)
        folder = Path(tempfile.mkdtemp())
        (folder / "cert.pem").write_bytes(cert)
        (folder / "key.pem").write_bytes(key)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        threading.Thread(target=self._serve, daemon=True).start()

    @staticmethod
    def _packet(sequence: int, payload: bytes) -> bytes:
        return len(payload).to_bytes(3, "little") + bytes([sequence]) + payload

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            sock, _ = self.listener.accept()
            with sock:
                # HandshakeV10: protocol 41, secure connection, plugin auth and TLS offered.
                greeting = b"\x0a8.0.36\x00" + (1).to_bytes(4, "little") + b"12345678\x00"
                greeting += (0x8A09).to_bytes(2, "little") + b"\x2d" + b"\x02\x00"
                greeting += (0x0008).to_bytes(2, "little") + b"\x15" + bytes(10)
                greeting += b"123456789012\x00mysql_native_password\x00"
                sock.sendall(self._packet(0, greeting))
                sock.recv(36)  # the client's SSLRequest
                with self.context.wrap_socket(sock, server_side=True) as tls:
                    tls.recv(4096)  # the login
                    denied = b"\xff" + (1045).to_bytes(2, "little") + b"#28000Access denied"
                    tls.sendall(self._packet(3, denied))

    def target(self) -> Target:
        return Target(NAME, self.port, DB, USER, PASSWORD, True, self.ca_pem)


@pytest.mark.parametrize(
    ("certified", "step", "field"),
    [(NAME, "auth", "password"), ("someone-else", "tls", "ca_cert")],
    ids=["for-the-name", "for-another-name"],
)
def test_tls_checks_the_certificate_against_the_name_not_the_address(
    customer: None, rebinding: Rebinding, certified: str, step: str, field: str
):
    # The certificate names no address: a check against 127.0.0.1 would fail both cases.
    server = TlsGreeter(certified)
    rebinding.answer(NAME, "127.0.0.1")
    with pytest.raises(ConnectionFailed) as failed:
        check(server.target(), allow_private=True, timeout=2)
    server.listener.close()
    assert (failed.value.step, list(failed.value.fields)) == (step, [field])
    assert rebinding.to_port(server.port) == ["127.0.0.1"]
