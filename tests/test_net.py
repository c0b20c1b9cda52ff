"""Hosts an admin types in: internal addresses are refused unless the operator allows them,
and a connection goes to the address that was checked."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from tests.rebinding import PUBLIC, Rebinding
from workspace.net import (
    HostRefused,
    check_host,
    checked_addresses,
    connect_tcp,
    is_public,
    pinned_address,
    refuse_internal,
)

INTERNAL = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata service
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",
    "224.0.0.1",
    "::1",
    "::",
    "fe80::1",
    "fd00:ec2::254",  # AWS metadata over IPv6
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
]


@pytest.mark.parametrize("address", INTERNAL)
def test_internal_addresses_are_refused(address):
    assert not is_public(ipaddress.ip_address(address))
    with pytest.raises(HostRefused, match="WORKSPACE_ALLOW_PRIVATE_HOSTS"):
        check_host(address, allow_private=False)


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address):
    assert is_public(ipaddress.ip_address(address))
    check_host(address, allow_private=False)


def test_a_name_resolving_to_loopback_is_refused():
    with pytest.raises(HostRefused, match=r"localhost is .* \((127\.0\.0\.1|::1)\)"):
        check_host("localhost", allow_private=False)


def test_bracketed_ipv6_literal_is_read():
    with pytest.raises(HostRefused):
        check_host("[::1]", allow_private=False)


def test_unresolvable_and_malformed_hosts_are_refused():
    with pytest.raises(HostRefused, match="cannot resolve"):
        check_host("no-such-host.invalid", allow_private=False)
    with pytest.raises(HostRefused, match="not a host name"):
        check_host("evil host", allow_private=True)


def test_the_operator_can_allow_private_hosts():
    check_host("127.0.0.1", allow_private=True)
    check_host("localhost", allow_private=True)


# ---- one lookup, and the connection goes to its answer ---------------------------------


def test_a_name_with_a_public_and_an_internal_address_is_refused():
    # A resolver may hand out either address to the connection: all must pass.
    answers = [ipaddress.ip_address(PUBLIC), ipaddress.ip_address("10.0.0.7")]
    with pytest.raises(HostRefused, match=r"\(10\.0\.0\.7\)"):
        refuse_internal("mixed.example", answers, allow_private=False)
    assert refuse_internal("mixed.example", answers * 2, allow_private=True) == [
        PUBLIC,
        "10.0.0.7",
    ]


def test_the_pinned_address_is_the_answer_that_was_checked(rebinding: Rebinding):
    rebinding.answer("rebind.example", PUBLIC, "127.0.0.1")
    assert pinned_address("rebind.example", allow_private=False) == PUBLIC
    assert rebinding.lookups == ["rebind.example"]
    # Looked up again, the name leads to loopback, and that answer is refused.
    with pytest.raises(HostRefused, match=r"\(127\.0\.0\.1\)"):
        checked_addresses("rebind.example", allow_private=False)


def test_with_private_hosts_allowed_the_name_is_still_looked_up_once(rebinding: Rebinding):
    rebinding.answer("rebind.example", "127.0.0.1", "127.0.0.2")
    assert pinned_address("rebind.example", allow_private=True) == "127.0.0.1"
    assert rebinding.lookups == ["rebind.example"]


def test_connect_tcp_goes_to_the_given_addresses_in_order(rebinding: Rebinding):
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with connect_tcp([PUBLIC, "127.0.0.1"], port, timeout=2) as sock:
            assert sock.getpeername() == ("127.0.0.1", port)
    assert rebinding.connects == [(PUBLIC, port), ("127.0.0.1", port)]
    assert rebinding.lookups == []
    with pytest.raises(ConnectionRefusedError):
        connect_tcp(["127.0.0.1"], port, timeout=2)
