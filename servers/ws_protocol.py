"""uvicorn's WebSocket protocol (websockets, sans-I/O), closing bad input audibly, with a
direct-send fast path for the app's fan-out."""

from __future__ import annotations

from collections.abc import Callable

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

from contract.messages import Problem


class LingeringCloseProtocol(WebSocketsSansIOProtocol):
    """The stock protocol, except that a close for bad input (a message too big, bad UTF-8)
    reaches a client that is still sending.

    The stock protocol writes the close frame and closes the socket at once; a client still
    sending (the rest of an oversized message) then gets a TCP reset, and with it loses the
    close frame: its code and reason. Here the close frame is followed by a half-close, and
    what the client still sends is read and dropped until it closes too, or `close_timeout`.
    """

    lingering = False

    def handle_parser_exception(self) -> None:
        """Send the close frame and a FIN; keep reading (and dropping) until the client ends."""
        assert self.conn.close_sent is not None
        code, reason = self.conn.close_sent.code, self.conn.close_sent.reason
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if self.transport.is_closing():
            return
        self.lingering = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.close)

    def data_received(self, data: bytes) -> None:
        """Parse as usual; after a close for bad input, drop what still arrives."""
        if not self.lingering:
            super().data_received(data)


class UTF8CheckingProtocol(LingeringCloseProtocol):
    """Also: a text message that is not UTF-8 closes 1007 *with a reason* (docs/protocol.md)
    instead of an empty one and a logged traceback.

    uvicorn decodes text frames before the app sees them, so the app cannot do this itself.
    """

    def send_receive_event_to_app(self) -> None:
        """Check a text message's UTF-8 first; hand everything else on unchanged."""
        if self.curr_msg_data_type == "text" and not self.close_sent:
            try:
                b"".join(self.frames).decode()
            except UnicodeDecodeError as exc:
                self.frames = []
                self.conn.send_close(
                    Problem.NOT_UTF8.ws_close_code, f"not valid UTF-8 at byte {exc.start}"
                )
                self.handle_parser_exception()
                return
        super().send_receive_event_to_app()


DIRECT_SEND_EXTENSION = "tbench.direct_send"


class DirectSend:
    """Writes a pre-built server frame straight to one connection's transport.

    The app's fast path (scope extension `tbench.direct_send`): a message is framed once per
    room (server frames are unmasked, so the bytes are the same for every member) and written
    to each member's transport without a task, an ASGI event or a per-connection framing.
    `writable` is the transport's flow control (False above its write-buffer high-water mark);
    `on_writable` is called when it drains below the low-water mark again.
    """

    __slots__ = ("_protocol", "on_writable")

    def __init__(self, protocol: WebSocketProtocol) -> None:
        self._protocol = protocol
        self.on_writable: Callable[[], None] | None = None

    @property
    def writable(self) -> bool:
        """Whether a frame written now goes out without growing a backlog in this process."""
        return self._protocol.writable.is_set()

    def write(self, frame: bytes) -> bool:
        """Write one complete frame; False (nothing written) once the connection is closing."""
        # Pushed only after the accept; every way a connection leaves OPEN afterwards (our
        # close, the client's close answered, a failed ping, a parser error) sets `close_sent`
        # or closes the transport, so the sans-I/O state need not be read on this hot path.
        protocol = self._protocol
        if protocol.close_sent or protocol.transport.is_closing():
            return False
        protocol.transport.write(frame)
        return True


class WebSocketProtocol(UTF8CheckingProtocol):
    """The targets' protocol: lingering close, UTF-8 reason, and the direct-send fast path."""

    direct_send: DirectSend | None = None

    def handle_connect(self, event: Request) -> None:
        """Accept as usual; offer the app `DirectSend` when frames need no per-connection
        encoding (no permessage-deflate negotiated)."""
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None and not self.conn.extensions:
            self.direct_send = DirectSend(self)
            scope["extensions"][DIRECT_SEND_EXTENSION] = self.direct_send

    def resume_writing(self) -> None:
        """The client caught up: unblock ASGI sends and let the fast path write again."""
        super().resume_writing()
        direct_send = self.direct_send
        if direct_send is not None and direct_send.on_writable is not None:
            direct_send.on_writable()

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the fast path's callback with the connection (it holds the subscription)."""
        if self.direct_send is not None:
            self.direct_send.on_writable = None
        super().connection_lost(exc)
