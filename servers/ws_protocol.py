"""uvicorn's WebSocket protocol (websockets, sans-I/O), closing bad input audibly."""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from tbench.messages import Problem


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


class WebSocketProtocol(LingeringCloseProtocol):
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
