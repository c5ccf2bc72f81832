"""uvicorn's WebSocket protocol with API Gateway's frame rules.

API Gateway takes frames of at most 32 KB (a larger message must come in several frames)
and closes the connection with 1009 otherwise; it sends large messages to the client in
frames of at most 32 KB too. Its client-side send buffer is bounded: when a client stops
reading, @connections POSTs are refused (429 LimitExceededException) instead of queueing.
The app gets, through the scope, the connection's last client activity (any frame, pings
included: the idle timeout, GET @connections' lastActiveAt) and whether that buffer is full.
Only frame-level hooks are overridden; everything else is uvicorn's sans-I/O protocol.
"""

from __future__ import annotations

import time
from asyncio import BaseTransport, Transport
from dataclasses import dataclass, field
from typing import cast

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.utils import ClientDisconnected
from websockets.exceptions import InvalidState
from websockets.frames import CloseCode, Frame
from websockets.http11 import Request

from servers.ws_protocol import LingeringCloseProtocol

MAX_FRAME_BYTES = 32 * 1024
CLIENT_BUFFER_BYTES = 1024 * 1024  # queued for a client beyond the kernel's socket buffer
ACTIVITY_EXTENSION = "tbench.activity"
TOO_BIG_REASON = "Message too big"


@dataclass
class Activity:
    """When the client last sent a frame (monotonic and wall clock)."""

    monotonic: float = field(default_factory=time.monotonic)
    wall: float = field(default_factory=time.time)

    def touch(self) -> None:
        """Record a frame from the client now."""
        self.monotonic = time.monotonic()
        self.wall = time.time()


class ApiGatewayWebSocketProtocol(LingeringCloseProtocol):
    """Frames over 32 KB close the connection (1009); large sends go out in 32 KB frames."""

    max_frame_bytes = MAX_FRAME_BYTES
    activity: Activity

    def connection_made(self, transport: BaseTransport) -> None:
        """Bound what may queue for this client before it counts as not reading."""
        super().connection_made(transport)
        cast(Transport, transport).set_write_buffer_limits(high=CLIENT_BUFFER_BYTES)

    def handle_connect(self, event: Request) -> None:
        """Start tracking activity; hand the tracker and the buffer state to the app."""
        self.activity = Activity()
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][ACTIVITY_EXTENSION] = {
                "activity": self.activity,
                "buffer_full": self.buffer_full,
            }

    def buffer_full(self) -> bool:
        """The client is not reading: its send buffer is above the limit."""
        return not self.writable.is_set()

    def handle_text(self, event: Frame) -> None:
        """A text frame (first of a message)."""
        if self._accept_frame(event):
            super().handle_text(event)

    def handle_bytes(self, event: Frame) -> None:
        """A binary frame (first of a message)."""
        if self._accept_frame(event):
            super().handle_bytes(event)

    def handle_cont(self, event: Frame) -> None:
        """A continuation frame."""
        if self._accept_frame(event):
            super().handle_cont(event)

    def handle_ping(self) -> None:
        """A ping counts as activity; uvicorn answers it."""
        self.activity.touch()
        super().handle_ping()

    def send_receive_event_to_app(self) -> None:
        """Hand a complete message to the app; invalid UTF-8 text closes 1007 with a reason."""
        if self.curr_msg_data_type == "text":
            try:
                b"".join(self.frames).decode()
            except UnicodeDecodeError:
                self.frames = []
                self.conn.fail(CloseCode.INVALID_DATA, "Invalid UTF-8 in text frame")
                self.handle_parser_exception()
                return
        super().send_receive_event_to_app()

    def _accept_frame(self, event: Frame) -> bool:
        self.activity.touch()
        if len(event.data) <= self.max_frame_bytes:
            return True
        self.conn.fail(CloseCode.MESSAGE_TOO_BIG, TOO_BIG_REASON)
        self.handle_parser_exception()  # sends the close frame, tells the app, drops the TCP
        return False

    async def send(self, message: ASGISendEvent) -> None:
        """Send as uvicorn does, but split messages over 32 KB into 32 KB frames."""
        if message["type"] == "websocket.close" and self._can_send_data() and self.buffer_full():
            self._close_stalled(
                message.get("code", CloseCode.NORMAL_CLOSURE), message.get("reason") or ""
            )
            return
        if message["type"] == "websocket.send" and self._can_send_data():
            text = message.get("text")
            payload = text.encode() if text is not None else message.get("bytes") or b""
            if len(payload) > self.max_frame_bytes:
                await self.writable.wait()
                if self.disconnected:
                    raise ClientDisconnected()
                self._send_fragmented(payload, is_text=text is not None)
                return
        await super().send(message)
        if message["type"] == "websocket.http.response.body" and not message.get("more_body"):
            # A denial response ends the handshake; uvicorn would log that it never completed.
            self.handshake_complete = True

    def _close_stalled(self, code: int, reason: str) -> None:
        """Close a client that stopped reading without waiting for it to drain.

        The close frame queues behind the unread data; a client that never reads is cut
        off (TCP reset) after uvicorn's close timeout.
        """
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.conn.send_close(code, reason)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.abort)

    def _can_send_data(self) -> bool:
        return self.handshake_complete and not self.close_sent and self.initial_response is None

    def _send_fragmented(self, payload: bytes, *, is_text: bool) -> None:
        size = self.max_frame_bytes
        chunks = [payload[start : start + size] for start in range(0, len(payload), size)]
        try:
            first = self.conn.send_text if is_text else self.conn.send_binary
            first(chunks[0], fin=False)
            for chunk in chunks[1:-1]:
                self.conn.send_continuation(chunk, fin=False)
            self.conn.send_continuation(chunks[-1], fin=True)
        except InvalidState:
            raise ClientDisconnected() from None
        # All frames in one write: concurrent posts to this connection cannot interleave.
        self.transport.write(b"".join(self.conn.data_to_send()))
