"""Server-Sent Events: `GET /rooms/{room}/events`, one `id:`/`data:` event per message."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from fastapi import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from contract.messages import validate_room
from servers.brokers.seam import Broker, Delivery, Subscription
from servers.http_common import TargetApp, create_app, parse_cursor
from servers.openapi import events_docs
from servers.settings import Settings

EVENTS_PATH = "/rooms/{room}/events"
PING = b": ping\n\n"
# What sse-starlette sent, kept: no cache or proxy may hold the stream back.
STREAM_HEADERS = {
    "Cache-Control": "no-store",
    "Connection": "keep-alive",
    "X-Accel-Buffering": "no",
}


class Chunks:
    """The stream's side of the subscription's push: events gathered until the stream sends.

    `writable` while no send is in progress: a client that lags makes uvicorn's send wait
    for its socket to drain, and meanwhile the subscription queues in its own bounded queue
    (the slow-consumer policy) instead of here. Events written in one turn of the loop (the
    backlog, a burst) go out as one chunk. Pings, a disconnect and the end of the subscription
    wake the stream through the same future.
    """

    __slots__ = ("_ready", "events", "on_writable", "sending")

    def __init__(self) -> None:
        self.events: list[bytes] = []
        self.sending = False
        self.on_writable: Callable[[], None] | None = None
        self._ready: asyncio.Future[None] | None = None

    @property
    def writable(self) -> bool:
        """Whether an event written now goes out with the next send."""
        return not self.sending

    def write(self, event: bytes) -> bool:
        """Add one encoded event to the next chunk."""
        self.events.append(event)
        self.wake()
        return True

    def wake(self, *_: object) -> None:
        """Let the stream look again (new events, ping due, client gone, subscription ended)."""
        ready = self._ready
        if ready is not None and not ready.done():
            ready.set_result(None)

    async def wait(self) -> None:
        """Until `wake`, unless events are already waiting."""
        if not self.events:
            self._ready = asyncio.get_running_loop().create_future()
            try:
                await self._ready
            finally:
                self._ready = None


class SubscriptionStream(Response):
    """The event stream of one subscription: `history_lost` if the cursor was older than what
    is kept, the backlog, live events, `: ping` every `ping_s`.

    Our own rather than sse-starlette's EventSourceResponse (measured, issue 16): that one runs
    a task group of four tasks per stream and wraps every send in a cancel scope and a lock,
    which cost more CPU per delivery than the delivery. What the protocol needs of it is kept:
    its headers, keep-alive pings, the end of the stream when the subscription ends (slow
    consumer, drop fault, shutdown), and noticing a client that left (`http.disconnect`).
    """

    def __init__(self, subscription: Subscription, ping_s: float) -> None:
        # Set here, not on the class: FastAPI documents the class's media type as the type of
        # every answer, the JSON errors included.
        self.media_type = "text/event-stream"
        self.subscription = subscription
        self.ping_s = ping_s
        self.status_code = 200
        self.background = None
        self.init_headers(STREAM_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            if await self._stream(receive, send):
                return  # the client left: nothing more to send
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self.subscription.close()

    async def _stream(self, receive: Receive, send: Send) -> bool:
        """Send events until the subscription ends (False) or the client leaves (True)."""
        chunks = Chunks()
        lost = self.subscription.history_lost
        if lost is not None:  # before the backlog: what the cursor asked for and is gone
            chunks.write(lost.sse_event)
        self.subscription.push_to(chunks, _event_of)  # the backlog is written at once
        loop = asyncio.get_running_loop()
        gone = loop.create_task(_until_disconnect(receive))
        ended = loop.create_task(self.subscription.wait_end())
        gone.add_done_callback(chunks.wake)
        ended.add_done_callback(chunks.wake)
        ping = _Ping(loop, self.ping_s, chunks)
        try:
            while True:
                if chunks.events:
                    body = b"".join(chunks.events)
                    chunks.events.clear()
                    chunks.sending = True
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                    chunks.sending = False
                    if chunks.on_writable is not None:
                        chunks.on_writable()  # what queued meanwhile joins the next chunk
                elif gone.done():
                    return True
                elif ended.done():
                    return False
                else:
                    await chunks.wait()
        finally:
            ping.cancel()
            gone.cancel()
            ended.cancel()


class _Ping:
    """Adds `: ping` to the stream every `interval_s` (dropped while a send is in progress)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, interval_s: float, chunks: Chunks) -> None:
        self._loop = loop
        self._interval_s = interval_s
        self._chunks = chunks
        self._timer = loop.call_later(interval_s, self._due)

    def _due(self) -> None:
        if self._chunks.writable:
            self._chunks.write(PING)
        self._timer = self._loop.call_later(self._interval_s, self._due)

    def cancel(self) -> None:
        self._timer.cancel()


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _event_of(delivery: Delivery) -> bytes:
    # Each event was encoded once for all subscribers.
    return delivery.sse_event


def create_sse_app(settings: Settings | None = None, broker: Broker | None = None) -> TargetApp:
    """The SSE target: event stream, publish, healthz."""
    app = create_app("sse", settings, broker, told=("queue_size", "sse_ping_s"))
    room_broker: Broker = app.state.broker
    ping_s: float = app.state.settings.sse_ping_s

    async def events(request: Request) -> SubscriptionStream:
        """Stream the room from the cursor (Last-Event-ID, else `since`), else from now."""
        room = validate_room(request.path_params["room"])
        last_event_id = request.headers.get("last-event-id", "").strip()
        if last_event_id:
            since = parse_cursor(last_event_id, "Last-Event-ID")
        else:
            since = parse_cursor(request.query_params.get("since"))
        # Subscribed before the response headers go out: a client that saw them misses nothing.
        return SubscriptionStream(await room_broker.subscribe(room, since), ping_s)

    # The 200's schema is in the docs; the errors are documented as JSON (see __init__).
    app.add_hot_route(
        "GET",
        EVENTS_PATH,
        events,
        response_class=SubscriptionStream,
        status_code=200,
        **events_docs(),
    )
    return app


app = create_sse_app()
