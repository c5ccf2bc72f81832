"""Small clients for the server tests: publish over HTTP, read an SSE stream."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from contract import codec
from servers.brokers.seam import Subscription
from tbench.process import TargetProcess

TIMEOUT = httpx.Timeout(10.0)


@contextmanager
def started_on_first_use(
    start: Callable[[str], TargetProcess],
) -> Iterator[Callable[[str], TargetProcess]]:
    """Targets by name, each started by `start` when first asked for; all stopped at the end."""
    servers: dict[str, TargetProcess] = {}

    def get(name: str) -> TargetProcess:
        if name not in servers:
            servers[name] = start(name)
        return servers[name]

    try:
        yield get
    finally:
        for server in servers.values():
            server.stop()


def new_room(prefix: str = "t") -> str:
    """A room no other test uses (the servers are shared by the session)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def payload(seq: int = 1, sender: str = "alice", body: str = "hello", **extra: Any) -> bytes:
    """A publish payload as JSON bytes."""
    return codec.dumps(
        {"sender": sender, "seq": seq, "body": body, "sent_at": time.time(), **extra}
    )


def http_root(server: TargetProcess) -> str:
    """The HTTP root of a target (also for the WebSocket one)."""
    return f"http://{server.host}:{server.port}"


def publish(
    server: TargetProcess, room: str, /, seq: int = 1, body: str = "hello", **fields: Any
) -> dict[str, Any]:
    """POST one message (extra payload `fields` allowed) and return the stored message."""
    response = httpx.post(
        f"{http_root(server)}/rooms/{room}/messages",
        content=payload(seq, body=body, **fields),
        timeout=TIMEOUT,
    )
    assert response.status_code == 201, response.text
    stored: dict[str, Any] = response.json()
    return stored


def connections(server: TargetProcess) -> int:
    """The `connections` figure of /healthz."""
    count: int = httpx.get(f"{http_root(server)}/healthz", timeout=TIMEOUT).json()["connections"]
    return count


async def take(subscription: Subscription, count: int, timeout_s: float = 5.0) -> list[int]:
    """The ids of the next `count` deliveries of a broker subscription."""
    return [(await asyncio.wait_for(anext(subscription), timeout_s)).id for _ in range(count)]


class EventStream:
    """An open SSE response, read line by line into events and comments."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self.comments: list[str] = []

    def next_event(self) -> dict[str, str]:
        """The next event's fields (`id`, `data`); comments are collected on the side."""
        fields: dict[str, str] = {}
        for line in self._lines:
            if line == "":
                if fields:
                    return fields
                continue
            if line.startswith(":"):
                self.comments.append(line)
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        raise EOFError("the server ended the event stream")

    def next_comment(self) -> str:
        """Read until a comment line arrives."""
        for line in self._lines:
            if line.startswith(":"):
                return line
        raise EOFError("the server ended the event stream")


@contextmanager
def event_stream(
    server: TargetProcess,
    room: str,
    since: int | None = None,
    headers: dict[str, str] | None = None,
) -> Iterator[EventStream]:
    """Open `GET /rooms/{room}/events` and yield the stream once the headers arrived."""
    params = {"since": str(since)} if since is not None else {}
    with (
        httpx.Client(timeout=TIMEOUT) as client,
        client.stream(
            "GET",
            f"{http_root(server)}/rooms/{room}/events",
            params=params,
            headers={"Accept": "text/event-stream", **(headers or {})},
        ) as response,
    ):
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield EventStream(response.iter_lines())
