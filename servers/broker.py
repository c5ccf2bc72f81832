"""The room broker seam: every target publishes and subscribes through a `Broker`.

Servers depend only on the `Broker` / `Subscription` protocols and `make_broker`; the
in-process implementation lives here, the Redis one in `servers.redis_broker`. Both fan out
to their local subscribers through `servers.fanout`.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import NamedTuple, Protocol

from websockets.frames import Frame, Opcode

from servers.fanout import SHUTDOWN_REASON, LocalRooms, LocalSubscription, PushSink, RoomFanout
from servers.settings import Settings
from tbench.messages import Message, Publish


class Delivery:
    """A stored message, serialized once; every subscriber is handed this same object."""

    __slots__ = ("_sse_event", "_text", "_ws_event", "_ws_frame", "data", "id", "message")

    def __init__(self, message: Message) -> None:
        self.message = message
        self.id: int = message.id if message.id is not None else 0
        self.data: bytes = message.encode()  # the one serialization (tbench.codec)
        self._text: str | None = None
        self._sse_event: bytes | None = None
        self._ws_event: dict[str, str] | None = None
        self._ws_frame: bytes | None = None

    @property
    def text(self) -> str:
        """The JSON as text, for WebSocket text frames (decoded once, shared)."""
        if self._text is None:
            self._text = self.data.decode()
        return self._text

    @property
    def ws_event(self) -> dict[str, str]:
        """The ASGI `websocket.send` event of the text frame (built once, shared: read-only)."""
        if self._ws_event is None:
            self._ws_event = {"type": "websocket.send", "text": self.text}
        return self._ws_event

    @property
    def ws_frame(self) -> bytes:
        """The WebSocket text frame as a server sends it (unmasked: the same bytes for every
        member; built once, shared)."""
        if self._ws_frame is None:
            self._ws_frame = Frame(Opcode.TEXT, self.data).serialize(mask=False)
        return self._ws_frame

    @property
    def sse_event(self) -> bytes:
        """The SSE event `id: N\\ndata: JSON\\n\\n` (built once, shared)."""
        if self._sse_event is None:
            self._sse_event = b"id: %d\ndata: %s\n\n" % (self.id, self.data)
        return self._sse_event


class History(NamedTuple):
    """Messages newer than a cursor, oldest first, and the room's newest id (0 if none)."""

    deliveries: list[Delivery]
    last_id: int


class Subscription(Protocol):
    """Backlog then live messages of one room, through a bounded queue.

    Iteration ends when the subscriber was dropped (queue full) or the broker closed;
    `end_reason` then says which.
    """

    @property
    def end_reason(self) -> str | None:
        """Why delivery ended (slow consumer, shutdown), or None while it goes on."""
        ...

    @property
    def dropped(self) -> bool:
        """Whether the slow-consumer policy ended this subscription."""
        ...

    def __aiter__(self) -> AsyncIterator[Delivery]: ...

    async def __anext__(self) -> Delivery: ...

    def push_to(self, sink: PushSink, encode: Callable[[Delivery], bytes]) -> None:
        """Write each delivery to `sink` as it comes instead of being iterated (see
        `servers.fanout.LocalSubscription.push_to`)."""
        ...

    async def wait_end(self) -> None:
        """Until delivery ends; a pushed subscription's consumer awaits this."""
        ...

    def close(self) -> None:
        """Stop receiving; idempotent. Every subscriber must call it when done."""
        ...


class Broker(Protocol):
    """Rooms of messages: publish, read history, wait for news, subscribe."""

    async def publish(self, publish: Publish) -> Delivery:
        """Stamp the next id of the room and `server_at`, store, fan out; return the delivery."""
        ...

    async def history(self, room: str, since: int | None) -> History:
        """Messages with id > `since` (see `resolve_cursor`), at once."""
        ...

    async def wait_for(self, room: str, since: int | None, timeout_s: float) -> History:
        """Like `history`, but wait up to `timeout_s` for a newer message if there is none."""
        ...

    async def subscribe(self, room: str, since: int | None) -> Subscription:
        """Subscribe: the backlog after `since`, then every new message, with no gap."""
        ...

    def connection_count(self) -> int:
        """Open subscriptions plus held `wait_for` calls in this process."""
        ...

    async def drop_all(self) -> int:
        """End every subscription and answer every held wait now, staying open for new ones.

        The "drop" fault: as if the server closed every client connection at once. Returns
        how many subscriptions and held waits it ended.
        """
        ...

    async def close(self) -> None:
        """End every subscription and held wait (server shutdown)."""
        ...


def resolve_cursor(since: int | None, last_id: int) -> int:
    """The id after which to deliver: no cursor means "now"; one ahead of the room means 0."""
    if since is None:
        return last_id
    if since > last_id:
        return 0  # the server restarted and lost its history (docs/protocol.md)
    return since


class _Room(RoomFanout):
    """A room in this process: its history ring plus the shared local fan-out."""

    __slots__ = ("last_id", "ring")

    def __init__(self, history_size: int) -> None:
        super().__init__()
        self.last_id = 0
        self.ring: deque[Delivery] = deque(maxlen=history_size)

    def after(self, cursor: int) -> list[Delivery]:
        """Stored messages with id > cursor, oldest first; O(number returned)."""
        newer = min(self.last_id - cursor, len(self.ring))  # ids in the ring are contiguous
        if newer <= 0:
            return []
        tail = list(itertools.islice(reversed(self.ring), newer))
        tail.reverse()
        return tail


class InProcessBroker(LocalRooms[_Room]):
    """Rooms in this process: a ring buffer of history per room, fan-out to local queues."""

    def __init__(self, history_size: int = 10_000, queue_size: int = 1_024) -> None:
        if history_size < 1 or queue_size < 1:
            raise ValueError("history_size and queue_size must be >= 1")
        super().__init__()
        self.history_size = history_size
        self.queue_size = queue_size

    def _room(self, name: str) -> _Room:
        room = self._rooms.get(name)
        if room is None:
            room = self._rooms[name] = _Room(self.history_size)
        return room

    def _forget_if_unused(self, name: str, room: _Room) -> None:
        # A room nobody published to and nobody listens on would only cost memory.
        if room.last_id == 0 and room.idle:
            self._rooms.pop(name, None)

    async def publish(self, publish: Publish) -> Delivery:
        """Stamp the next id of the room and `server_at`, store, fan out; return the delivery."""
        room = self._room(publish.room)
        room.last_id += 1
        delivery = Delivery(publish.to_message(room.last_id, time.time()))
        room.ring.append(delivery)
        self._subscriptions -= room.deliver(delivery)
        return delivery

    async def history(self, room: str, since: int | None) -> History:
        """Messages with id > `since` (see `resolve_cursor`), at once."""
        state = self._rooms.get(room)
        if state is None:
            return History([], 0)
        return History(state.after(resolve_cursor(since, state.last_id)), state.last_id)

    async def wait_for(self, room: str, since: int | None, timeout_s: float) -> History:
        """Like `history`, but wait up to `timeout_s` for a newer message if there is none."""
        state = self._room(room)
        cursor = resolve_cursor(since, state.last_id)
        if state.last_id > cursor or self._closed or timeout_s <= 0:
            history = History(state.after(cursor), state.last_id)
            self._forget_if_unused(room, state)
            return history
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        drops = self._drops
        state.waiting += 1
        self._waiting += 1
        try:
            while state.last_id <= cursor and not self._closed and self._drops == drops:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                # asyncio.wait never cancels the shared future, unlike wait_for.
                await asyncio.wait((state.next_change(),), timeout=remaining)
        finally:
            state.waiting -= 1
            self._waiting -= 1
        history = History(state.after(cursor), state.last_id)
        self._forget_if_unused(room, state)
        return history

    async def subscribe(self, room: str, since: int | None) -> Subscription:
        """Subscribe: the backlog after `since`, then every new message, with no gap."""
        state = self._room(room)
        # No await between taking the backlog and registering: publish() cannot run in
        # between, so the handoff from backlog to live has neither gap nor duplicate.
        subscription = LocalSubscription(
            self.queue_size, functools.partial(self._unsubscribe, room)
        )
        subscription.start(state.after(resolve_cursor(since, state.last_id)), state.last_id)
        if self._closed:
            subscription.end(SHUTDOWN_REASON)
            self._forget_if_unused(room, state)
            return subscription
        state.subscribers.add(subscription)
        self._subscriptions += 1
        return subscription

    def _unsubscribe(self, room: str, subscription: LocalSubscription) -> None:
        state = self._rooms.get(room)
        if state is None or subscription not in state.subscribers:
            return
        state.subscribers.discard(subscription)
        self._subscriptions -= 1
        self._forget_if_unused(room, state)

    async def close(self) -> None:
        """End every subscription and held wait (server shutdown)."""
        self._closed = True
        self._end_all(SHUTDOWN_REASON)

    def _room_ended(self, name: str, state: _Room) -> None:
        self._forget_if_unused(name, state)


def make_broker(settings: Settings) -> Broker:
    """The broker named by `settings.broker_url` (`memory://` is the in-process one)."""
    scheme = settings.broker_url.split("://", 1)[0].lower()
    if scheme == "memory":
        return InProcessBroker(settings.history_size, settings.queue_size)
    if scheme in ("redis", "rediss"):
        from servers.redis_broker import RedisBroker  # imports redis only when asked for

        return RedisBroker(settings.broker_url, settings.history_size, settings.queue_size)
    raise ValueError(
        f"unsupported broker URL {settings.broker_url!r}: use memory:// or redis://HOST:PORT"
    )
