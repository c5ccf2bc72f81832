"""What every check is given: the target, its URL, a shared HTTP client, what verify knows."""

from __future__ import annotations

import contextlib
import itertools
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx

from conformance.clients import new_subscriber
from conformance.subscriber import Subscriber
from contract.registry import TargetSpec


@dataclass(frozen=True)
class ServerFacts:
    """What verify knows about the server because it started it (None: a server at --url)."""

    pid: int | None = None
    sse_ping_s: float | None = None  # the `--sse-ping-s` it was started with
    queue_size: int | None = None  # the `--queue-size` it was started with
    history_size: int | None = None  # the `--history-size` it was started with


@dataclass
class CheckContext:
    """A target under test and the tools a check needs to exercise it."""

    spec: TargetSpec
    base_url: str
    http: httpx.AsyncClient
    facts: ServerFacts = field(default_factory=ServerFacts)
    _room_numbers: itertools.count[int] = field(default_factory=itertools.count)
    _run_tag: str = field(default_factory=lambda: secrets.token_hex(3))

    def new_room(self, purpose: str) -> str:
        """A fresh room name, unique per run, so checks never see each other's messages."""
        return f"{purpose}-{self._run_tag}-{next(self._room_numbers)}"

    def subscriber(self, name: str) -> Subscriber:
        """An unconnected subscriber of the target's family."""
        return new_subscriber(self.spec, self.base_url, self.http, name)

    @contextlib.asynccontextmanager
    async def members(
        self, room: str, names: list[str], cursor: int | None = None
    ) -> AsyncIterator[list[Subscriber]]:
        """Connected subscribers in `room`, closed on exit."""
        connected: list[Subscriber] = []
        try:
            for name in names:
                member = self.subscriber(name)
                await member.connect(room, cursor)
                connected.append(member)
            yield connected
        finally:
            for member in connected:
                await member.close()
