"""Free ports: a port the kernel offers again is not handed out twice by one process."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from contract import addresses


class OfferedSocket:
    """A socket whose bind to port 0 lands on the next of a fixed list of ports."""

    offers: Iterator[int] = iter(())

    def __init__(self, *_: object) -> None:
        self.port = 0

    def __enter__(self) -> OfferedSocket:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def bind(self, address: tuple[str, int]) -> None:
        self.port = next(self.offers)

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)


def test_a_port_offered_again_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(addresses, "_GIVEN", set())
    monkeypatch.setattr(OfferedSocket, "offers", iter([40001, 40001, 40001, 40002]))
    monkeypatch.setattr(addresses.socket, "socket", OfferedSocket)
    assert [addresses.free_port(), addresses.free_port()] == [40001, 40002]


def test_only_given_ports_offered_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(addresses, "_GIVEN", {("127.0.0.1", 40001)})
    monkeypatch.setattr(OfferedSocket, "offers", iter([40001] * addresses._TRIES))
    monkeypatch.setattr(addresses.socket, "socket", OfferedSocket)
    with pytest.raises(OSError, match="not given out already"):
        addresses.free_port()


def test_real_ports_are_bindable_and_distinct() -> None:
    ports = [addresses.free_port() for _ in range(20)]
    assert len(set(ports)) == 20
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports[-1]))
