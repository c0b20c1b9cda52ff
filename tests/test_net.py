"""Hosts an admin types in: internal addresses are refused unless the operator allows them."""

from __future__ import annotations

import ipaddress

import pytest

from workspace.net import HostRefused, check_host, is_public

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
