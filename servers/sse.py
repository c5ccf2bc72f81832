"""Server-Sent Events: `GET /rooms/{room}/events`, one `id:`/`data:` event per message."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.types import Receive, Scope, Send

from servers.broker import Broker, Subscription
from servers.http_common import create_app, parse_cursor
from servers.openapi import events_docs
from servers.settings import Settings
from tbench.messages import validate_room

EVENTS_PATH = "/rooms/{room}/events"
PING = ServerSentEvent(comment="ping", sep="\n")  # encodes to ": ping\n\n"


class SubscriptionStream(EventSourceResponse):
    """An event stream of one subscription, closed however the response ends."""

    def __init__(self, subscription: Subscription, ping_s: float) -> None:
        super().__init__(
            _events(subscription), ping=ping_s, sep="\n", ping_message_factory=lambda: PING
        )
        self.subscription = subscription

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Also when the stream never started (HEAD, client gone before the first byte).
            self.subscription.close()


async def _events(subscription: Subscription) -> AsyncIterator[bytes]:
    # Each event was encoded once for all subscribers; a slow consumer's stream just ends.
    async for delivery in subscription:
        yield delivery.sse_event


def create_sse_app(settings: Settings | None = None, broker: Broker | None = None) -> FastAPI:
    """The SSE target: event stream, publish, healthz."""
    app = create_app("sse", settings, broker)
    room_broker: Broker = app.state.broker
    ping_s: float = app.state.settings.sse_ping_s

    @app.get(EVENTS_PATH, **events_docs())
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

    return app


app = create_sse_app()
