"""Subscriber for the WebSocket targets (own server and API Gateway-style endpoints)."""

from __future__ import annotations

from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from conformance import endpoints
from conformance.subscriber import Subscriber, SubscriptionError
from contract import codec
from contract.messages import MAX_FRAME_BYTES, SEND_ACTION, Publish

OPEN_TIMEOUT_S = 10.0


async def open_websocket(url: str, **options: Any) -> ClientConnection:
    """Open a WebSocket with the checks' settings; SubscriptionError if the handshake fails."""
    settings: dict[str, Any] = {
        "open_timeout": OPEN_TIMEOUT_S,
        "close_timeout": 2.0,
        "max_size": None,  # the target's limits are under test, not the client's
        "compression": None,
        "proxy": None,
    }
    settings.update(options)
    try:
        return await connect(url, **settings)
    except (InvalidHandshake, OSError, TimeoutError) as exc:
        raise SubscriptionError(f"WebSocket handshake to {url} failed: {exc}") from None


async def send_text(ws: ClientConnection, payload: str | bytes) -> None:
    """Send one text message, fragmented into frames of at most MAX_FRAME_BYTES.

    API Gateway closes a connection that sends a larger frame (1009), so a 128 KiB message
    must arrive in pieces; other servers reassemble them the same way. Bytes are sent as text
    unchecked, which is how a check sends invalid UTF-8.
    """
    data = payload.encode() if isinstance(payload, str) else payload
    if len(data) <= MAX_FRAME_BYTES:
        await ws.send(data, text=True)
        return
    fragments = [
        data[start : start + MAX_FRAME_BYTES] for start in range(0, len(data), MAX_FRAME_BYTES)
    ]
    await ws.send(fragments, text=True)


def close_description(exc: ConnectionClosed) -> str:
    """`closed 1008 'reason'`, or how the connection ended without a close frame."""
    if exc.rcvd is None:
        return "connection dropped without a close frame"
    return f"closed {exc.rcvd.code} {exc.rcvd.reason!r}"


class WebSocketSubscriber(Subscriber):
    """One connection per member: receives message frames and publishes `sendMessage` frames.

    The cursor goes in `since` only when the target supports resume; ids are expected
    only when it assigns them (API Gateway + Lambda does neither).
    """

    _ws: ClientConnection | None = None
    close_code: int | None = None  # the server's close code, once it closed

    async def publish(self, publish: Publish) -> None:
        """Send the `sendMessage` frame; the member's own echo is the ack."""
        if self._ws is None:
            raise SubscriptionError("not connected")
        try:
            await send_text(self._ws, codec.dumps(publish.to_json(action=SEND_ACTION)))
        except ConnectionClosed as exc:
            raise SubscriptionError(f"publish failed: {close_description(exc)}") from None

    async def _open(self) -> None:
        cursor = self._cursor if self.spec.supports_resume else None
        url = endpoints.websocket_url(self.base_url, self.room, cursor)
        self._ws = await open_websocket(url)

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            while True:
                frame = await self._ws.recv()
                if isinstance(frame, bytes):
                    self._record_error("the server sent a binary frame")
                    continue
                self._receive_text(frame)
        except ConnectionClosed as exc:
            self.close_code = exc.rcvd.code if exc.rcvd is not None else None
            self.ended = close_description(exc)

    def _receive_text(self, frame: str) -> None:
        """A message, or the `{"history_lost": {...}}` frame that may come before the backlog."""
        try:
            payload = codec.loads(frame)
        except codec.JSONDecodeError:
            self._deliver(frame)  # recorded as undecodable
            return
        if isinstance(payload, dict) and set(payload) == {"history_lost"}:
            self._history_lost(payload["history_lost"])
        else:
            self._deliver(payload)

    async def _close_transport(self) -> None:
        if self._ws is not None:
            await self._ws.close()
            self._ws = None
