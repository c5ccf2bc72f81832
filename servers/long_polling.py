"""Long polling: the short-polling GET plus `&wait=S`, held until a newer message or S s."""

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
    parse_wait,
)
from servers.openapi import poll_docs
from servers.settings import Settings


def create_long_polling_app(
    settings: Settings | None = None, broker: Broker | None = None
) -> TargetApp:
    """The long-polling target: held poll, publish, healthz."""
    app = create_app("long-polling", settings, broker)
    room_broker: Broker = app.state.broker
    max_wait_s: float = app.state.settings.long_poll_max_wait_s

    async def poll(request: Request) -> Response:
        """Messages after `since`, waiting up to `wait` s (capped) for one if there is none."""
        room = validate_room(request.path_params["room"])
        since = parse_cursor(request.query_params.get("since"))
        wait_s = parse_wait(request.query_params.get("wait"), max_wait_s)
        if wait_s > 0:
            return messages_response(await room_broker.wait_for(room, since, wait_s))
        return messages_response(await room_broker.history(room, since))

    app.add_hot_route("GET", MESSAGES_PATH, poll, **poll_docs(with_wait=True))
    return app


app = create_long_polling_app()
