"""Subscriber for the SSE target: `GET /rooms/{room}/events` with `Last-Event-ID` resume."""

from __future__ import annotations

import httpx
from httpx_sse import EventSource

from conformance import endpoints
from conformance.subscriber import Subscriber, SubscriptionError, post_publish
from contract import codec
from contract.messages import Publish


def _json_or_text(data: str) -> object:
    """An event's data as JSON, or as the text it is if it is not JSON."""
    try:
        return codec.loads(data)
    except codec.JSONDecodeError:
        return data


async def open_event_stream(
    http: httpx.AsyncClient, base_url: str, room: str, cursor: int | None = None
) -> httpx.Response:
    """Open the event stream (headers read, body not); SubscriptionError if refused."""
    headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
    if cursor is not None:
        headers["Last-Event-ID"] = str(cursor)
    request = http.build_request(
        "GET",
        endpoints.events_url(base_url, room),
        headers=headers,
        timeout=httpx.Timeout(10.0, read=None),
    )
    response = await http.send(request, stream=True)
    content_type = response.headers.get("content-type", "")
    if response.status_code != 200 or not content_type.startswith("text/event-stream"):
        await response.aread()
        await response.aclose()
        raise SubscriptionError(
            f"GET events answered {response.status_code} {content_type!r}: {response.text[:200]}"
        )
    return response


class SseSubscriber(Subscriber):
    """Reads `id:` + `data:` events from one stream; publishes with POST."""

    _response: httpx.Response | None = None

    async def publish(self, publish: Publish) -> None:
        """POST the message."""
        await post_publish(self.http, self.base_url, publish, self.spec)

    async def _open(self) -> None:
        self._response = await open_event_stream(self.http, self.base_url, self.room, self._cursor)

    async def _read(self) -> None:
        assert self._response is not None
        async for event in EventSource(self._response).aiter_sse():
            if event.event == "history_lost":
                self._history_lost(_json_or_text(event.data))
            elif event.data:
                self._deliver(event.data, event_id=event.id or None)
        self.ended = "the server ended the event stream"

    async def _close_transport(self) -> None:
        if self._response is not None:
            await self._response.aclose()
            self._response = None
