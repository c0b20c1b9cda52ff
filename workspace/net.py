"""Checks on hosts an admin types in (an S3 endpoint, an FTP server, a customer's MySQL).

The server connects to those hosts from inside the operator's network, so a workspace admin
could otherwise aim it at the loopback interface, the private network or a cloud metadata
service (169.254.169.254) and read what comes back through error messages or stored objects
(server-side request forgery). Every address a name resolves to must be a public one; the
operator can allow private hosts with ``WORKSPACE_ALLOW_PRIVATE_HOSTS`` (for tests and for
on-premises servers).

A name is checked when it is saved and again when it is used. A connection must go to the
very address that was checked (:func:`pinned_address`), never to the name again: a resolver
that answers a public address to the check and 127.0.0.1 to the connection (DNS rebinding)
would otherwise reach the loopback interface.
"""

from __future__ import annotations

import ipaddress
import socket

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


def pinned_address(host: str, *, allow_private: bool) -> str:
    """Resolve ``host`` once, check it, and return the address to connect to.

    The caller connects to this literal address (keeping ``host`` for TLS SNI, certificate
    checks and the HTTP Host header), so the name is never looked up a second time.
    """
    if not host or any(c.isspace() for c in host):
        raise HostRefused("is not a host name")
    addresses = resolve(host)
    if not allow_private:
        for ip in addresses:
            if not is_public(ip):
                raise HostRefused(
                    f"{host} is a loopback, private, link-local or otherwise internal address "
                    f"({ip}); the server operator can allow those with "
                    "WORKSPACE_ALLOW_PRIVATE_HOSTS"
                )
    return str(addresses[0])
