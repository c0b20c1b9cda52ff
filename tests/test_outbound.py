"""Outbound HTTP (workspace.outbound) against a real HTTP server on loopback, and an HTTPS one
whose certificate names a host and no address: connections go to the checked address, the
name stays for TLS and the Host header, redirects stay on the site, answers are capped.
Names resolve through tests/rebinding.py, whose network reaches loopback only."""

from __future__ import annotations

import gzip
import http.server
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.rebinding import PUBLIC, Rebinding
from tests.storage_servers import loopback_certificate
from workspace import outbound
from workspace.net import HostRefused, check_host

NAME = "hooks.example"


class Site(http.server.ThreadingHTTPServer):
    """A small web site on loopback that records what reaches it."""

    daemon_threads = True

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.port = int(self.server_address[1])
        self.seen: list[tuple[str, str, str, bytes]] = []  # method, path, Host, body
        self.server_names: list[str | None] = []
        if context is not None:
            context.sni_callback = lambda _sock, name, _ctx: self.server_names.append(name)
            self.socket = context.wrap_socket(self.socket, server_side=True)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def url(self, path: str, host: str = NAME, scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Site

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.seen.append((self.command, self.path, self.headers["Host"], body))
        route, _, argument = self.path.lstrip("/").partition("/")
        headers: dict[str, str] = {}
        content = b""
        status = 200
        if route == "ok":
            content = b"hello"
        elif route == "echo":
            content = self.command.encode() + b" " + body
        elif route == "to":  # /to/<location>: a redirect there, 303 for a POST
            status = 303 if self.command == "POST" else 302
            headers["Location"] = argument if "://" in argument else "/" + argument
        elif route == "bytes":
            content = b"x" * int(argument)
        elif route == "gzip":
            content = gzip.compress(b"\0" * int(argument))
            headers["Content-Encoding"] = "gzip"
        self.send_response(status)
        for key, value in {**headers, "Content-Length": str(len(content))}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(content)


@pytest.fixture
def site(rebinding: Rebinding) -> Iterator[Site]:
    rebinding.answer(NAME, "127.0.0.1")
    server = Site()
    yield server
    server.shutdown()
    server.server_close()


def tls_site(*names: str) -> tuple[Site, ssl.SSLContext]:
    """An HTTPS site certified for ``names``, and a client context trusting its CA."""
    ca_pem, cert, key = loopback_certificate(*names)
    folder = Path(tempfile.mkdtemp())
    (folder / "cert.pem").write_bytes(cert)
    (folder / "key.pem").write_bytes(key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return Site(context), ssl.create_default_context(cadata=ca_pem)


# ---- where connections go --------------------------------------------------------------


def test_the_connection_goes_to_the_looked_up_address_and_the_name_is_the_host(
    site: Site, rebinding: Rebinding
):
    # Nothing listens on 127.0.0.2: a second lookup of the name would lead there and fail.
    rebinding.answer(NAME, "127.0.0.1", "127.0.0.2")
    with outbound.client(allow_private=True) as http:
        response = outbound.fetch(http, "GET", site.url("/ok"))
    assert (response.status_code, response.content) == (200, b"hello")
    assert site.seen == [("GET", "/ok", f"{NAME}:{site.port}", b"")]
    assert rebinding.lookups == [NAME]
    assert rebinding.to_port(site.port) == ["127.0.0.1"]


def test_a_rebound_name_never_leads_a_request_to_loopback(site: Site, rebinding: Rebinding):
    rebinding.answer(NAME, PUBLIC, "127.0.0.1", PUBLIC)
    check_host(NAME, allow_private=False)  # as when the webhook was saved
    with outbound.client(allow_private=False) as http:
        with pytest.raises(HostRefused, match="WORKSPACE_ALLOW_PRIVATE_HOSTS"):
            outbound.fetch(http, "GET", site.url("/ok"))
        # The next lookup answers the public address: that is where the connection goes.
        with pytest.raises(httpx.ConnectError):
            outbound.fetch(http, "GET", site.url("/ok"))
    assert rebinding.to_port(site.port) == [PUBLIC]
    assert site.seen == []


def test_environment_proxies_are_not_used(
    site: Site, rebinding: Rebinding, monkeypatch: pytest.MonkeyPatch
):
    # A proxy would look the name up itself.
    for variable in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")
    with outbound.client(allow_private=True) as http:
        assert outbound.fetch(http, "GET", site.url("/ok")).content == b"hello"
    assert rebinding.to_port(9) == []


def test_https_checks_the_certificate_against_the_name_over_the_pinned_connection(
    rebinding: Rebinding,
):
    rebinding.answer(NAME, "127.0.0.1")
    # The certificates name no address: checked against 127.0.0.1, both would fail.
    good, trusting = tls_site(NAME)
    with outbound.client(allow_private=True, verify=trusting) as http:
        assert outbound.fetch(http, "GET", good.url("/ok", scheme="https")).content == b"hello"
    assert good.server_names == [NAME]
    other, trusting = tls_site("someone-else.example")
    with (
        outbound.client(allow_private=True, verify=trusting) as http,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        outbound.fetch(http, "GET", other.url("/ok", scheme="https"))
    assert other.seen == []
    assert set(rebinding.to_port(good.port) + rebinding.to_port(other.port)) == {"127.0.0.1"}
    for server in (good, other):
        server.shutdown()
        server.server_close()


# ---- redirects, size, time -------------------------------------------------------------


def test_redirects_are_followed_within_the_site_only(site: Site, rebinding: Rebinding):
    rebinding.answer("elsewhere.example", "127.0.0.1")
    with outbound.client(allow_private=True) as http:
        followed = outbound.fetch(http, "GET", site.url("/to/ok"))
        posted = outbound.fetch(http, "POST", site.url("/to/echo"), content=b"payload")
        assert (followed.content, posted.content) == (b"hello", b"GET ")  # 303: GET
        away = [
            site.url("/ok", host="elsewhere.example"),
            site.url("/ok", scheme="https"),
            f"http://{NAME}:{site.port + 1}/ok",
        ]
        for location in away:
            with pytest.raises(outbound.RedirectRefused, match="another site"):
                outbound.fetch(http, "GET", site.url(f"/to/{location}"))
        with pytest.raises(httpx.TooManyRedirects):
            outbound.fetch(http, "GET", site.url("/to/to/ok"), max_redirects=1)
        # Not followed at all by a plain send.
        assert http.get(site.url("/to/ok")).status_code == 302
    assert [path for _, path, _, _ in site.seen].count("/ok") == 1
    assert "elsewhere.example" not in rebinding.lookups


def test_answers_are_capped_after_decompression(site: Site):
    with outbound.client(allow_private=True) as http:
        assert len(outbound.fetch(http, "GET", site.url("/bytes/1000"), max_bytes=1000).content)
        with pytest.raises(outbound.ResponseTooLarge, match="larger than 1000 bytes"):
            outbound.fetch(http, "GET", site.url("/bytes/1001"), max_bytes=1000)
        unpacked = outbound.fetch(http, "GET", site.url("/gzip/5000"))
        assert unpacked.content == b"\0" * 5000
        assert "content-encoding" not in unpacked.headers
        with pytest.raises(outbound.ResponseTooLarge):
            outbound.fetch(http, "GET", site.url("/gzip/20000000"))  # 20 KB on the wire


def test_every_timeout_is_ten_seconds_unless_told(rebinding: Rebinding):
    with outbound.client(allow_private=True) as http:
        assert http.timeout == httpx.Timeout(connect=10, read=10, write=10, pool=10)
    rebinding.answer("silent.example", "127.0.0.1")
    with socket.create_server(("127.0.0.1", 0)) as silent:  # listens, never answers
        url = f"http://silent.example:{silent.getsockname()[1]}/"
        with (
            outbound.client(allow_private=True, timeout=httpx.Timeout(0.3)) as http,
            pytest.raises(httpx.ReadTimeout),
        ):
            outbound.fetch(http, "GET", url)


# ---- async -----------------------------------------------------------------------------


async def test_the_async_client_keeps_the_same_rules(site: Site, rebinding: Rebinding) -> None:
    rebinding.answer(NAME, "127.0.0.1", "127.0.0.2")
    async with outbound.async_client(allow_private=True) as http:
        response = await outbound.fetch_async(http, "GET", site.url("/to/ok"))
        assert response.content == b"hello"
        with pytest.raises(outbound.RedirectRefused):
            away = site.url("/ok", scheme="https")
            await outbound.fetch_async(http, "GET", site.url(f"/to/{away}"))
        with pytest.raises(outbound.ResponseTooLarge):
            await outbound.fetch_async(http, "GET", site.url("/bytes/2000"), max_bytes=1000)
    assert rebinding.lookups == [NAME]
    rebinding.answer(NAME, PUBLIC, "127.0.0.1")
    async with outbound.async_client(allow_private=False) as http:
        with pytest.raises(httpx.ConnectError):
            await outbound.fetch_async(http, "GET", site.url("/ok"))
        with pytest.raises(HostRefused):
            await outbound.fetch_async(http, "GET", site.url("/ok"))
    assert set(rebinding.to_port(site.port)) == {"127.0.0.1", PUBLIC}
    assert rebinding.to_port(site.port).count("127.0.0.1") == 1  # the first client's only
