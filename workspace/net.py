"""Checks on hosts an admin types in (an S3 endpoint, an FTP server, a customer's MySQL,
a webhook or SaaS address), and the rule that connections go to the checked address.

The server connects to those hosts from inside the operator's network, so a workspace admin
could otherwise aim it at the loopback interface, the private network or a cloud metadata
service (169.254.169.254) and read what comes back through error messages or stored objects
(server-side request forgery). Every address a name resolves to must be a public one; the
operator can allow private hosts with ``WORKSPACE_ALLOW_PRIVATE_HOSTS`` (for tests and for
on-premises servers).

A name is checked when it is saved and again when it is used. Checking is not enough on its
own: a resolver that answers a public address to the check and 127.0.0.1 to the connection
(DNS rebinding, with a time-to-live of zero) would reach the loopback interface if the
connection looked the name up again. So every connection to such a host looks the name up
once, here (:func:`checked_addresses`, :func:`pinned_address`), and connects to that literal
address, keeping the name only where it names and does not route: TLS SNI, the certificate
check, the HTTP Host header and the S3 signature that covers it. With private hosts allowed,
the name is still looked up once and the connection still goes to that answer.

Where each client is pinned:

* S3 (aiobotocore over aiohttp): a resolver of ours (``storage_backends.s3``) answers aiohttp
  with checked addresses only; aiohttp never asks the system resolver.
* A customer's MySQL (PyMySQL under SQLAlchemy): every new pooled connection, reconnections
  included, is a socket opened here to a checked address and handed to PyMySQL, which keeps
  the name for TLS (``workspace.data_engines``); the test connection does the same.
* Outbound HTTP (webhooks, SaaS connectors): httpx clients whose network backend connects
  only to checked addresses (``workspace.outbound``).
* FTP (aioftp): the control connection goes to the first checked address that answers and
  every data connection to that same address; TLS checks the certificate against the name
  (``storage_backends.ftp_client``).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: NAT64's well-known prefix embeds an IPv4 address in the last 32 bits (RFC 6052).
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class HostRefused(ValueError):
    """The host is not one the server may connect to; the message says why."""


def embedded_ipv4(ip: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64), if any."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: Address) -> bool:
    """Whether ``ip`` is a globally routable address (not loopback, private, link-local,
    shared, reserved, multicast or unspecified), also when hidden inside an IPv6 address."""
    inner = embedded_ipv4(ip)
    if inner is not None and not is_public(inner):
        return False
    return ip.is_global and not ip.is_multicast


def resolve(host: str) -> list[Address]:
    """Every address ``host`` (a name or a literal address) resolves to."""
    literal = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return [ipaddress.ip_address(literal)]
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(literal, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise HostRefused(f"cannot resolve {host!r}: {exc}") from None
    # The scope of a link-local IPv6 answer ("fe80::1%eth0") is not part of the address.
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]


def check_host(host: str, *, allow_private: bool) -> None:
    """Raise :class:`HostRefused` unless every address of ``host`` is public, or private
    hosts are allowed by the operator (a name is then not even resolved)."""
    if allow_private:
        if not host or any(c.isspace() for c in host):
            raise HostRefused("is not a host name")
        return
    pinned_address(host, allow_private=False)


def refuse_internal(host: str, addresses: Sequence[Address], *, allow_private: bool) -> list[str]:
    """``addresses`` (what ``host`` resolved to) as text, or :class:`HostRefused` if any is
    internal and the operator has not allowed those. All or nothing: a name that answers a
    public and a private address is refused, as a resolver may hand out either."""
    if not allow_private:
        for ip in addresses:
            if not is_public(ip):
                raise HostRefused(
                    f"{host} is a loopback, private, link-local or otherwise internal address "
                    f"({ip}); the server operator can allow those with "
                    "WORKSPACE_ALLOW_PRIVATE_HOSTS"
                )
    return list(dict.fromkeys(str(ip) for ip in addresses))


def checked_addresses(host: str, *, allow_private: bool) -> list[str]:
    """Resolve ``host`` once and return every address it has, each one checked, in the
    resolver's order: the caller connects to one of these and never to the name."""
    if not host or any(c.isspace() for c in host):
        raise HostRefused("is not a host name")
    return refuse_internal(host, resolve(host), allow_private=allow_private)


def pinned_address(host: str, *, allow_private: bool) -> str:
    """Resolve ``host`` once, check it, and return the address to connect to.

    The caller connects to this literal address (keeping ``host`` for TLS SNI, certificate
    checks and the HTTP Host header), so the name is never looked up a second time.
    """
    return checked_addresses(host, allow_private=allow_private)[0]


def connect_tcp(addresses: Sequence[str], port: int, *, timeout: float) -> socket.socket:
    """A TCP connection to the first of ``addresses`` (checked ones) that accepts, tried in
    order as :func:`socket.create_connection` tries a name's; the last error otherwise."""
    error: OSError = OSError("no address to connect to")
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout=timeout)
        except OSError as exc:
            error = exc
    raise error
