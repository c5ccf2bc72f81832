"""Reference HTTP server: short polling, long polling and SSE as one bare ASGI app (no framework)
on uvicorn with uvloop and httptools, orjson.

The routes of docs/protocol.md — `POST /rooms/R/messages`, `GET /rooms/R/messages[?since&wait]`,
`GET /rooms/R/events[?since]`, `GET /healthz` — with no validation, no limits, no queues.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import orjson
import uvicorn

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

HISTORY = 10_000
MAX_WAIT_S = 30.0
JSON_HEADERS = [(b"content-type", b"application/json")]
SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


class Room:
    """The next id, a history ring of (JSON, SSE event), one wake-up future for waiters."""

    def __init__(self) -> None:
        self.last_id = 0
        self.ring: collections.deque[tuple[bytes, bytes]] = collections.deque(maxlen=HISTORY)
        self.changed: asyncio.Future[None] | None = None

    def next_change(self) -> asyncio.Future[None]:
        """The future the next publish resolves, shared by every waiter."""
        if self.changed is None:
            self.changed = asyncio.get_running_loop().create_future()
        return self.changed

    def after(self, cursor: int) -> list[tuple[bytes, bytes]]:
        """(JSON, SSE event) of every stored message with id > cursor, oldest first."""
        newer = min(self.last_id - cursor, len(self.ring))
        return list(self.ring)[len(self.ring) - newer :] if newer > 0 else []


rooms: collections.defaultdict[str, Room] = collections.defaultdict(Room)
transport_name = "reference"
open_connections = 0


async def respond(send: Send, status: int, body: bytes) -> None:
    """One JSON response."""
    await send({"type": "http.response.start", "status": status, "headers": JSON_HEADERS})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> bytes:
    """The whole request body."""
    chunks = []
    while True:
        event = await receive()
        chunks.append(event.get("body", b""))
        if not event.get("more_body"):
            return b"".join(chunks)


def cursor_of(room: Room, since: int | None) -> int:
    """No cursor: now; one ahead of the room (lost history): 0."""
    if since is None:
        return room.last_id
    return 0 if since > room.last_id else since


async def publish(room_name: str, receive: Receive, send: Send) -> None:
    """Stamp id and server_at, store, wake the room's waiters and streams."""
    data = orjson.loads(await read_body(receive))
    room = rooms[room_name]
    room.last_id += 1
    message = orjson.dumps(
        {
            "id": room.last_id,
            "room": room_name,
            "sender": data["sender"],
            "seq": data["seq"],
            "body": data["body"],
            "sent_at": data["sent_at"],
            "server_at": time.time(),
        }
    )
    room.ring.append((message, b"id: %d\ndata: %s\n\n" % (room.last_id, message)))
    if room.changed is not None:
        room.changed.set_result(None)
        room.changed = None
    await respond(send, 201, message)


async def poll(room: Room, since: int | None, wait_s: float | None, send: Send) -> None:
    """Messages after the cursor at once, or held up to `wait_s` for the next."""
    cursor = cursor_of(room, since)
    if wait_s is not None and room.last_id <= cursor:
        await asyncio.wait((room.next_change(),), timeout=min(wait_s, MAX_WAIT_S))
    messages = b",".join(message for message, _ in room.after(cursor))
    await respond(send, 200, b'{"messages":[%s],"last_id":%d}' % (messages, room.last_id))


async def stream(room: Room, since: int | None, receive: Receive, send: Send) -> None:
    """The backlog after the cursor, then every new message, as SSE events, until the client
    goes."""
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
    cursor = cursor_of(room, since)
    await receive()  # the (empty) request body; the next event is http.disconnect
    gone = asyncio.ensure_future(receive())
    try:
        while not gone.done():
            events = [event for _, event in room.after(cursor)]
            cursor = room.last_id
            if events:
                body = b"".join(events)
                await send({"type": "http.response.body", "body": body, "more_body": True})
            await asyncio.wait((room.next_change(), gone), return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Route by path and method; no validation."""
    global open_connections
    if scope["type"] != "http":
        return
    path: str = scope["path"]
    if path == "/healthz":
        health = {"status": "ok", "target": transport_name, "connections": open_connections}
        await respond(send, 200, orjson.dumps(health))
        return
    _, _, room_name, resource = path.split("/", 3)
    if scope["method"] == "POST":
        await publish(room_name, receive, send)
        return
    query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
    headers = dict(scope["headers"])
    since_text = headers.get(b"last-event-id", b"").decode() or query.get("since")
    since = int(since_text) if since_text else None
    open_connections += 1
    try:
        if resource == "events":
            await stream(rooms[room_name], since, receive, send)
        else:
            wait = query.get("wait")
            await poll(rooms[room_name], since, float(wait) if wait else None, send)
    finally:
        open_connections -= 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transport", default="reference", help="name /healthz reports")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    transport_name = args.transport
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        backlog=2048,
    )
