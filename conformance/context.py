"""What every check is given: the target, its URL, a shared HTTP client, what verify knows."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx

from conformance import endpoints
from conformance.clients import new_subscriber
from conformance.subscriber import Subscriber
from contract import codec
from contract.registry import TargetSpec


@dataclass(frozen=True)
class ServerFacts:
    """What verify knows about the server: the options it started it with, or what the
    server's `/healthz` says of itself (a server at a URL). None: not known."""

    pid: int | None = None
    sse_ping_s: float | None = None  # `--sse-ping-s`
    queue_size: int | None = None  # `--queue-size`
    history_size: int | None = None  # `--history-size`
    history_max_age_s: float | None = None  # `--history-max-age-s`


def _told(body: object, name: str) -> float | None:
    """A positive number `/healthz` gave for `name`, else None."""
    value = body.get(name) if isinstance(body, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return value
    return None


def _told_count(body: object, name: str) -> int | None:
    """A positive count `/healthz` gave for `name`, else None."""
    value = _told(body, name)
    return None if value is None else int(value)


@dataclass
class CheckContext:
    """A target under test and the tools a check needs to exercise it."""

    spec: TargetSpec
    base_url: str
    http: httpx.AsyncClient
    facts: ServerFacts = field(default_factory=ServerFacts)
    _room_numbers: itertools.count[int] = field(default_factory=itertools.count)
    _run_tag: str = field(default_factory=lambda: secrets.token_hex(3))
    _known: ServerFacts | None = None

    async def known_facts(self) -> ServerFacts:
        """`facts`, with what is missing filled in from the server's `/healthz` (asked once).

        A server at a URL reports its history bounds and its transport's settings there; a
        field it does not report stays None. Raises httpx.HTTPError if `/healthz` is not
        reachable.
        """
        if self._known is None:
            response = await self.http.get(endpoints.health_url(self.base_url), timeout=5.0)
            body: object = None
            with contextlib.suppress(codec.JSONDecodeError):
                body = codec.loads(response.content)
            known = self.facts
            self._known = dataclasses.replace(
                known,
                sse_ping_s=known.sse_ping_s or _told(body, "sse_ping_s"),
                queue_size=known.queue_size or _told_count(body, "queue_size"),
                history_size=known.history_size or _told_count(body, "history_size"),
                history_max_age_s=known.history_max_age_s or _told(body, "history_max_age_s"),
            )
        return self._known

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
