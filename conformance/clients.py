"""Pick the subscriber class for a target from its capabilities (never from its name)."""

from __future__ import annotations

import httpx

from conformance.polling import LongPollSubscriber, ShortPollSubscriber
from conformance.sse import SseSubscriber
from conformance.subscriber import Subscriber
from conformance.websocket import WebSocketSubscriber
from contract.registry import Family, TargetSpec

SUBSCRIBER_BY_FAMILY: dict[Family, type[Subscriber]] = {
    "short-polling": ShortPollSubscriber,
    "long-polling": LongPollSubscriber,
    "sse": SseSubscriber,
    "websocket": WebSocketSubscriber,
}


def new_subscriber(
    spec: TargetSpec, base_url: str, http: httpx.AsyncClient, name: str
) -> Subscriber:
    """An unconnected subscriber of the target's family."""
    return SUBSCRIBER_BY_FAMILY[spec.family](spec, base_url, http, name)
