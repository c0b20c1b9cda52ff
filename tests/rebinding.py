"""DNS rebinding, simulated: names whose answer changes from one lookup to the next, on a
network where connections reach loopback only.

No rebinding DNS server is at hand, so ``socket.getaddrinfo`` is patched for the test's own
names (every client here looks names up through it: PyMySQL, asyncio for aiohttp and anyio,
httpcore); other names resolve as usual. Connections are watched at
``socket.socket.connect``, which PyMySQL, asyncio and httpcore's sync backend all call: each
one is recorded, and one to an address off loopback is refused before any packet leaves
(the "public" answers below are real addresses, and tests send nothing off this machine).
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

#: A public address (example.com's): passes the host check; refused by the test network.
PUBLIC = "93.184.215.14"


class Rebinding:
    """The patched resolver and network of one test."""

    def __init__(self) -> None:
        self._answers: dict[str, list[str]] = {}
        #: Names of ours looked up, one entry per lookup.
        self.lookups: list[str] = []
        #: (address, port) of every connection attempt, in order.
        self.connects: list[tuple[str, int]] = []

    def answer(self, name: str, *addresses: str) -> None:
        """Answer ``name`` with ``addresses[0]`` first, the next one on the next lookup,
        and the last one from then on."""
        self._answers[name] = list(addresses)

    def to_port(self, port: int) -> list[str]:
        """The addresses connections to ``port`` went to."""
        return [address for address, p in self.connects if p == port]

    def _lookup(self, name: str) -> str:
        self.lookups.append(name)
        queue = self._answers[name]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real_getaddrinfo = socket.getaddrinfo
        real_connect = socket.socket.connect

        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            name = host.decode() if isinstance(host, bytes) else host
            if name in self._answers:
                host = self._lookup(name)
            return real_getaddrinfo(host, port, *args, **kwargs)

        def connect(sock: socket.socket, address: Any) -> None:
            if isinstance(address, tuple):
                self.connects.append((str(address[0]), int(address[1])))
                if not ipaddress.ip_address(address[0]).is_loopback:
                    raise ConnectionRefusedError(
                        errno.ECONNREFUSED, f"the test network stops {address[0]}"
                    )
            real_connect(sock, address)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture
def rebinding(monkeypatch: pytest.MonkeyPatch) -> Iterator[Rebinding]:
    found = Rebinding()
    found.install(monkeypatch)
    yield found
