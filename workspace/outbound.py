"""Outbound HTTP to hosts that admins and connectors name (webhooks, SaaS APIs): connections
go only to checked addresses, redirects stay on the same site, answers have a size cap.

A webhook URL is a host an admin typed, like an S3 endpoint, and the same rules hold
(``workspace.net``): an internal address is refused unless the operator allows private hosts,
and the connection goes to the address that was checked. The clients made here connect
through a network backend of ours: for each new connection it looks the host up once,
checks every answer and opens the TCP connection to one of those addresses. httpx keeps the
name in the URL, so TLS SNI, the certificate check and the Host header use it. Proxies from
the environment and ``.netrc`` credentials are not used (``trust_env=False``): a proxy
would look the name up itself, and the operator's credentials are not an admin's to send.

httpx follows no redirect here. :func:`fetch` follows at most :data:`MAX_REDIRECTS`, only to
the same scheme, host and port (a redirect to elsewhere could lead anywhere the first check
did not look), reads the answer up to :data:`MAX_RESPONSE_BYTES` and returns it read and
closed. Errors: :class:`workspace.net.HostRefused` for a refused host (the settings are
wrong: do not retry), :class:`RedirectRefused` and :class:`ResponseTooLarge` (neither is
worth a retry), and httpx's own (timeouts, refused connections, ``TooManyRedirects``).
"""

from __future__ import annotations

import ssl
import typing
from collections.abc import Mapping

import anyio
import httpcore
import httpx

from workspace.net import HostRefused, checked_addresses

#: Seconds to connect, to wait for each read and write, and for a pooled connection.
DEFAULT_TIMEOUT = httpx.Timeout(10.0)
#: Redirects :func:`fetch` follows within the same site before giving up.
MAX_REDIRECTS = 5
#: The largest answer body :func:`fetch` reads (after decompression).
MAX_RESPONSE_BYTES = 10 * 1024 * 1024

_PORTS = {"http": 80, "https": 443}
_SocketOptions = typing.Iterable[typing.Any] | None


class RedirectRefused(httpx.RequestError):
    """The server redirected to another scheme, host or port; not followed."""


class ResponseTooLarge(httpx.RequestError):
    """The answer's body is larger than the cap; it was not read further."""


def client(
    *,
    allow_private: bool,
    verify: ssl.SSLContext | None = None,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    headers: Mapping[str, str] | None = None,
) -> httpx.Client:
    """An httpx client whose connections go only to checked addresses.

    Args:
        allow_private: the operator's ``WORKSPACE_ALLOW_PRIVATE_HOSTS``.
        verify: the TLS context for certificates (default: httpx's, with certifi's CAs).
        timeout: connect, read, write and pool timeouts.
        headers: sent with every request.
    """
    context = verify or httpx.create_ssl_context()
    pool = httpcore.ConnectionPool(
        ssl_context=context, network_backend=_CheckedBackend(allow_private=allow_private)
    )
    return httpx.Client(
        transport=_Transport(pool),
        timeout=timeout,
        headers=headers,
        follow_redirects=False,
        trust_env=False,
    )


def async_client(
    *,
    allow_private: bool,
    verify: ssl.SSLContext | None = None,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    headers: Mapping[str, str] | None = None,
) -> httpx.AsyncClient:
    """:func:`client` for async code (asyncio or trio, through anyio)."""
    context = verify or httpx.create_ssl_context()
    pool = httpcore.AsyncConnectionPool(
        ssl_context=context, network_backend=_AsyncCheckedBackend(allow_private=allow_private)
    )
    return httpx.AsyncClient(
        transport=_AsyncTransport(pool),
        timeout=timeout,
        headers=headers,
        follow_redirects=False,
        trust_env=False,
    )


def fetch(
    client: httpx.Client,
    method: str,
    url: str | httpx.URL,
    *,
    max_redirects: int = MAX_REDIRECTS,
    max_bytes: int = MAX_RESPONSE_BYTES,
    **request: typing.Any,
) -> httpx.Response:
    """Send a request (``request``: httpx's ``build_request`` arguments, such as ``json``,
    ``content``, ``headers``, ``params``), follow redirects within the same site, and return
    the final answer with its body read (``.content``, ``.json()``) and the connection
    released. Any status is returned; call ``raise_for_status()`` for errors."""
    outgoing = client.build_request(method, url, **request)
    for _ in range(max_redirects + 1):
        response = client.send(outgoing, stream=True)
        try:
            # Read redirects too: the connection then goes back to the pool for the next.
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                _cap(response, len(body), max_bytes)
            following = _redirect(outgoing, response)
        finally:
            response.close()
        if following is None:
            return _complete(response, bytes(body))
        outgoing = following
    raise httpx.TooManyRedirects(f"more than {max_redirects} redirects", request=outgoing)


async def fetch_async(
    client: httpx.AsyncClient,
    method: str,
    url: str | httpx.URL,
    *,
    max_redirects: int = MAX_REDIRECTS,
    max_bytes: int = MAX_RESPONSE_BYTES,
    **request: typing.Any,
) -> httpx.Response:
    """:func:`fetch` for an :func:`async_client`."""
    outgoing = client.build_request(method, url, **request)
    for _ in range(max_redirects + 1):
        response = await client.send(outgoing, stream=True)
        try:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                _cap(response, len(body), max_bytes)
            following = _redirect(outgoing, response)
        finally:
            await response.aclose()
        if following is None:
            return _complete(response, bytes(body))
        outgoing = following
    raise httpx.TooManyRedirects(f"more than {max_redirects} redirects", request=outgoing)


def same_site(a: httpx.URL, b: httpx.URL) -> bool:
    """Whether two URLs share scheme, host and port (the default port of the scheme when
    none is given)."""

    def site(url: httpx.URL) -> tuple[str, str, int | None]:
        return url.scheme, url.host, url.port or _PORTS.get(url.scheme)

    return site(a) == site(b)


def _redirect(request: httpx.Request, response: httpx.Response) -> httpx.Request | None:
    """The request a redirect asks for (httpx builds it: method, body and headers as a
    browser would), None for an answer that is no redirect; RedirectRefused off the site."""
    following = response.next_request
    if following is None:
        return None
    if not same_site(request.url, following.url):
        raise RedirectRefused(
            f"{request.url.host} redirected to {following.url.scheme}://{following.url.host}"
            f"{':' + str(following.url.port) if following.url.port else ''}, another site; "
            "redirects are followed only within the same scheme, host and port",
            request=request,
        )
    return following


def _cap(response: httpx.Response, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise ResponseTooLarge(
            f"the answer of {response.request.url.host} is larger than {max_bytes} bytes",
            request=response.request,
        )


def _complete(response: httpx.Response, body: bytes) -> httpx.Response:
    """A complete Response holding ``body``, which is decoded already: the Content-Encoding
    and Content-Length of the wire go."""
    headers = httpx.Headers(response.headers)
    for name in ("content-encoding", "content-length"):
        headers.pop(name, None)
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=body,
        request=response.request,
        extensions={"http_version": response.extensions.get("http_version", b"HTTP/1.1")},
    )


class _CheckedBackend(httpcore.NetworkBackend):
    """httpcore's sync network backend, connecting only to checked addresses of a host."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private
        self.inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: _SocketOptions = None,
    ) -> httpcore.NetworkStream:
        addresses = checked_addresses(host, allow_private=self.allow_private)
        error: Exception = httpcore.ConnectError(f"no address for {host}")
        for address in addresses:
            try:
                return self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: _SocketOptions = None
    ) -> httpcore.NetworkStream:
        raise HostRefused("outbound requests go to hosts, not to local sockets")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


class _AsyncCheckedBackend(httpcore.AsyncNetworkBackend):
    """:class:`_CheckedBackend` for async code; the lookup runs in a worker thread, within
    the connect timeout."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: _SocketOptions = None,
    ) -> httpcore.AsyncNetworkStream:
        def lookup() -> list[str]:
            return checked_addresses(host, allow_private=self.allow_private)

        with anyio.move_on_after(timeout) as scope:
            addresses = await anyio.to_thread.run_sync(lookup, abandon_on_cancel=True)
        if scope.cancelled_caught:
            raise httpcore.ConnectTimeout(f"looking up {host} took over {timeout:g} s")
        error: Exception = httpcore.ConnectError(f"no address for {host}")
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: _SocketOptions = None
    ) -> httpcore.AsyncNetworkStream:
        raise HostRefused("outbound requests go to hosts, not to local sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class _Transport(httpx.HTTPTransport):
    """httpx's own transport (its request and error mapping) over our connection pool:
    httpx offers no way to hand it a network backend, so the pool it keeps in ``_pool`` is
    ours (httpx 0.28 and 0.29)."""

    def __init__(self, pool: httpcore.ConnectionPool) -> None:
        self._pool = pool


class _AsyncTransport(httpx.AsyncHTTPTransport):
    """:class:`_Transport` for async code."""

    def __init__(self, pool: httpcore.AsyncConnectionPool) -> None:
        self._pool = pool
