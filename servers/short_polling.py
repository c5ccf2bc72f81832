"""Short polling: `GET /rooms/{room}/messages?since=ID`, answered at once."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from contract.messages import validate_room
from servers.brokers.seam import Broker
from servers.http_common import (
    MESSAGES_PATH,
    TargetApp,
    create_app,
    messages_response,
    parse_cursor,
)
from servers.openapi import poll_docs
from servers.settings import Settings


def create_short_polling_app(
    settings: Settings | None = None, broker: Broker | None = None
) -> TargetApp:
    """The short-polling target: poll, publish, healthz."""
    app = create_app("short-polling", settings, broker)
    # its subscribers hold a keep-alive connection between polls, not a request (capacity.py)
    app.cap_counts = app.state.client_connections.count
    room_broker: Broker = app.state.broker

    async def poll(request: Request) -> Response:
        """Messages after `since` (none without it) and the room's newest id."""
        room = validate_room(request.path_params["room"])
        since = parse_cursor(request.query_params.get("since"))
        return messages_response(await room_broker.history(room, since))

    app.add_hot_route("GET", MESSAGES_PATH, poll, **poll_docs(with_wait=False))
    return app


app = create_short_polling_app()
