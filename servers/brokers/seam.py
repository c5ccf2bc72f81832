"""The room broker seam: what every target publishes and subscribes through.

The `Broker` and `Subscription` protocols and the values they hand out (`Delivery`,
`History`). Servers depend on this module and on `servers.brokers.factory` only; the
implementations (`in_process`, `redis_streams`) stand beside each other on top of it and
share `fanout`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import NamedTuple, Protocol

from websockets.frames import Frame, Opcode

from contract.messages import Message, Publish


class Delivery:
    """A kept message: its id, its JSON (the one serialization) and when the server took it.

    This is what history holds, so it holds nothing else: no `Message` object and no cached
    encodings (about 1.4x the JSON in all, instead of ~13x). Each transport's encoding is
    built when asked for; live fan-out hands every member one `LiveDelivery`, which builds
    each encoding once for all of them and is dropped once they have it.
    """

    __slots__ = ("data", "id", "server_at")

    def __init__(self, message_id: int, data: bytes, server_at: float) -> None:
        self.id = message_id
        self.data = data
        self.server_at = server_at  # epoch seconds; the age bound of history reads it

    @classmethod
    def of(cls, message: Message) -> Delivery:
        """The kept form of `message`, serialized once (contract.codec)."""
        # A copy of exactly its size: orjson hands its output back in the 4 KiB buffer it
        # wrote into, and history would keep that whole buffer per message.
        data = bytes(memoryview(message.encode()))
        return cls(message.id if message.id is not None else 0, data, message.server_at)

    def live(self) -> LiveDelivery:
        """This message as fan-out hands it to every member (encodings built once, shared)."""
        return LiveDelivery(self)

    @property
    def text(self) -> str:
        """The JSON as text, for WebSocket text frames."""
        return self.data.decode()

    @property
    def ws_event(self) -> dict[str, str]:
        """The ASGI `websocket.send` event of the text frame (read-only)."""
        return {"type": "websocket.send", "text": self.text}

    @property
    def ws_frame(self) -> bytes:
        """The WebSocket text frame as a server sends it (unmasked: the same for every member)."""
        return Frame(Opcode.TEXT, self.data).serialize(mask=False)

    @property
    def sse_event(self) -> bytes:
        """The SSE event `id: N\\ndata: JSON\\n\\n`."""
        return b"id: %d\ndata: %s\n\n" % (self.id, self.data)


class LiveDelivery(Delivery):
    """A message being fanned out: each encoding built once and shared by every member.

    Not kept in history: the cached encodings go with it once every member has it.
    """

    __slots__ = ("_sse_event", "_text", "_ws_event", "_ws_frame")

    def __init__(self, kept: Delivery) -> None:
        super().__init__(kept.id, kept.data, kept.server_at)
        self._text: str | None = None
        self._sse_event: bytes | None = None
        self._ws_event: dict[str, str] | None = None
        self._ws_frame: bytes | None = None

    @property
    def text(self) -> str:
        """The JSON as text (decoded once, shared)."""
        if self._text is None:
            self._text = self.data.decode()
        return self._text

    @property
    def ws_event(self) -> dict[str, str]:
        """The ASGI `websocket.send` event (built once, shared: read-only)."""
        if self._ws_event is None:
            self._ws_event = {"type": "websocket.send", "text": self.text}
        return self._ws_event

    @property
    def ws_frame(self) -> bytes:
        """The WebSocket text frame (built once, shared)."""
        if self._ws_frame is None:
            self._ws_frame = Frame(Opcode.TEXT, self.data).serialize(mask=False)
        return self._ws_frame

    @property
    def sse_event(self) -> bytes:
        """The SSE event (built once, shared)."""
        if self._sse_event is None:
            self._sse_event = b"id: %d\ndata: %s\n\n" % (self.id, self.data)
        return self._sse_event


class HistoryLost(NamedTuple):
    """The answer to a cursor older than what is kept (docs/protocol.md, "History lost"):
    the messages after `since` and before `oldest_id` are gone; delivery goes on from
    `oldest_id`, the oldest id kept (the room's newest id + 1 if it keeps none)."""

    since: int
    oldest_id: int

    @property
    def data(self) -> bytes:
        """`{"since": C, "oldest_id": F}`: the `history_lost` field of a poll's answer."""
        return b'{"since":%d,"oldest_id":%d}' % (self.since, self.oldest_id)

    @property
    def sse_event(self) -> bytes:
        """The `history_lost` SSE event (no `id:` line: the client's cursor stays)."""
        return b"event: history_lost\ndata: %s\n\n" % self.data

    @property
    def ws_text(self) -> str:
        """The WebSocket text frame's payload: `{"history_lost": {...}}`."""
        return f'{{"history_lost":{self.data.decode()}}}'

    @property
    def ws_frame(self) -> bytes:
        """The WebSocket text frame as a server sends it."""
        return Frame(Opcode.TEXT, self.ws_text.encode()).serialize(mask=False)


def history_lost(cursor: int, kept: Sequence[Delivery], last_id: int) -> HistoryLost | None:
    """The gap between `cursor` and `kept` (what history holds after it), or None if none."""
    if cursor >= last_id:
        return None
    oldest_id = kept[0].id if kept else last_id + 1
    return HistoryLost(cursor, oldest_id) if oldest_id > cursor + 1 else None


class PushSink(Protocol):
    """A connection deliveries can be written to at once (servers.ws_protocol.DirectSend)."""

    on_writable: Callable[[], None] | None  # called when `writable` turns True again

    @property
    def writable(self) -> bool:
        """False while the client lags (its write buffer is above the high-water mark)."""
        ...

    def write(self, frame: bytes) -> bool:
        """Write one encoded delivery; False once the connection is closing."""
        ...


class History(NamedTuple):
    """Messages newer than a cursor, oldest first, the room's newest id (0 if none), and
    what was no longer kept after the cursor (None if nothing)."""

    deliveries: list[Delivery]
    last_id: int
    lost: HistoryLost | None = None


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

    @property
    def history_lost(self) -> HistoryLost | None:
        """What the backlog lacks because history no longer kept it (sent before it), or None."""
        ...

    def __aiter__(self) -> AsyncIterator[Delivery]: ...

    async def __anext__(self) -> Delivery: ...

    def push_to(self, sink: PushSink, encode: Callable[[Delivery], bytes]) -> None:
        """Write each delivery to `sink` as it comes instead of being iterated (see
        `servers.brokers.fanout.LocalSubscription.push_to`)."""
        ...

    async def wait_end(self) -> None:
        """Until delivery ends; a pushed subscription's consumer awaits this."""
        ...

    def close(self) -> None:
        """Stop receiving; idempotent. Every subscriber must call it when done."""
        ...


class Broker(Protocol):
    """Rooms of messages: publish, read history, wait for news, subscribe."""

    history_size: int  # messages a room keeps for resume, at most
    history_max_age_s: float  # kept messages older than this are dropped

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

    def kept_count(self) -> int | None:
        """Messages this process holds in history now, over every room (what its memory grows
        with); None when history is kept elsewhere (in Redis)."""
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
