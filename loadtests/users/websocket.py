"""WebSocket family: drives the websocket target and the API Gateway (Lambda) target alike.

Only the URL differs between them; resume (`since=`) is used when the TargetSpec says the
target supports it. There is no ack frame in the protocol: a publisher's own echo is its ack.
"""

from __future__ import annotations

import time
from typing import Any

from locust.event import EventHook

from contract import codec
from contract.loadgen import LoadCounters
from contract.messages import SEND_ACTION, Publish
from loadtests.users.base import ChatUser
from loadtests.websocket_client import WebSocketConnection
from loadtests.wire import WireCounter

# How long a join waits for a close right after the handshake (a server at its cap accepts,
# then closes 1013 at once). Bytes sent back-to-back arrive well within it; a later 1013 is
# still counted, by the receive path, as a refusal of an open connection.
REFUSAL_WAIT_S = 0.1


def room_url(base_url: str, room: str, since: int | None) -> str:
    """The subscription URL: the target's WebSocket URL plus `room` (and `since` to resume)."""
    separator = "&" if "?" in base_url else "?"
    url = f"{base_url}{separator}room={room}"
    return url if since is None else f"{url}&since={since}"


class WebSocketChatClient:
    """One chat WebSocket; fires Locust request events for connect and failed sends."""

    def __init__(
        self, request_event: EventHook, request_type: str, wire: WireCounter, counters: LoadCounters
    ) -> None:
        self.request_event = request_event
        self.request_type = request_type
        self.wire = wire
        self.counters = counters
        self.connection: WebSocketConnection | None = None

    def _fire(
        self, name: str, started: float, error: Exception | None, ended: float | None = None
    ) -> None:
        ended = time.perf_counter() if ended is None else ended
        self.request_event.fire(
            request_type=self.request_type,
            name=name,
            response_time=(ended - started) * 1000.0,
            response_length=0,
            exception=error,
            context=None,
        )

    def connect(self, url: str) -> float:
        """Open the connection (TCP + upgrade), reported as `connect`; the wall-clock time the
        handshake completed. Raises WebSocketClosed (1013) when the server closes at once, as
        it does at its cap: refused, not joined."""
        started = time.perf_counter()
        self.counters.requests += 1
        try:
            self.connection = WebSocketConnection.connect(url, self.wire)
            opened, opened_at = time.perf_counter(), time.time()
            self.connection.refused_at_once(REFUSAL_WAIT_S)
        except Exception as exc:
            self._fire("connect", started, exc)
            raise
        self._fire("connect", started, None, ended=opened)  # the handshake's time, no more
        return opened_at

    def send(self, payload: bytes) -> bool:
        """Send one text frame; a failure is reported as a failed `publish`."""
        connection = self.connection
        started = time.perf_counter()
        if connection is None:
            self._fire("publish", started, ConnectionError("not connected"))
            return False
        try:
            connection.send_text(payload)
        except OSError as exc:
            self._fire("publish", started, exc)
            return False
        self.counters.requests += 1
        return True

    def receive(self) -> tuple[list[bytes], float]:
        """The next batch of text messages and the wall-clock time their bytes arrived."""
        connection = self.connection
        if connection is None:
            raise ConnectionError("not connected")
        messages = connection.receive()
        return messages, connection.last_received_at

    def close(self) -> None:
        """Close the connection (a close frame if it can still be sent)."""
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class WebSocketUser(ChatUser):
    """A chat member on a WebSocket target (`--host ws://host:port/ws` or the API stage URL)."""

    abstract = True
    request_type = "WS"
    echo_is_ack = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client = WebSocketChatClient(
            self.environment.events.request,
            self.request_type,
            self.session.wire,
            self.session.counters,
        )

    def join(self) -> None:
        """Connect to the room (resuming from the last id seen when the target can)."""
        assert self.seat is not None
        assert self.sink is not None
        resume = self.target.supports_resume and self.target.assigns_ids
        since = self.sink.last_id if resume else None
        started_at = time.time()
        opened_at = self.client.connect(room_url(self.base_url, self.seat.room, since))
        self.sink.joined(self.seat.room, started_at, opened_at)

    def receive_forever(self) -> None:
        """Hand every batch of frames to the sink, stamped with its arrival time."""
        assert self.sink is not None
        receive = self.client.receive
        deliver = self.sink.deliver
        while True:
            messages, received_at = receive()
            deliver(messages, received_at)

    def publish(self, message: Publish) -> bool:
        """Send the API Gateway route frame `{"action": "sendMessage", ...}`."""
        return self.client.send(codec.dumps(message.to_json(action=SEND_ACTION)))

    def close(self) -> None:
        """Close the WebSocket."""
        self.client.close()
