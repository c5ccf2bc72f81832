"""The real handlers, unchanged, behind a recorder: every event is appended to a JSON-lines
file named by TBENCH_EVENT_LOG before the real handler runs. A frame carrying `sleep_s`
holds its environment that long first (to fill the concurrency limit in tests)."""

from __future__ import annotations

import json
import os
import time

from servers.lambda_ws import handlers
from servers.lambda_ws.event_types import HandlerResponse, WebSocketEvent


def _record(event: WebSocketEvent) -> None:
    path = os.environ.get("TBENCH_EVENT_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(event) + "\n")


def connect(event: WebSocketEvent, context: object) -> HandlerResponse:
    """Record, then the real `$connect`."""
    _record(event)
    return handlers.connect(event, context)


def disconnect(event: WebSocketEvent, context: object) -> HandlerResponse:
    """Record, then the real `$disconnect`."""
    _record(event)
    return handlers.disconnect(event, context)


def send_message(event: WebSocketEvent, context: object) -> HandlerResponse:
    """Record, hold if asked to, then the real `sendMessage`."""
    _record(event)
    try:
        sleep_s = float(json.loads(event.get("body") or "{}").get("sleep_s", 0))
    except (ValueError, AttributeError):
        sleep_s = 0.0
    time.sleep(min(sleep_s, 5.0))  # tested: a handler that takes as long as asked
    return handlers.send_message(event, context)


def default(event: WebSocketEvent, context: object) -> HandlerResponse:
    """Record, then the real `$default`."""
    _record(event)
    return handlers.default(event, context)
