"""uvicorn's WebSocket protocol (websockets, sans-I/O), closing bad UTF-8 with a reason."""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from tbench.messages import Problem


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """The stock protocol, except that a text message that is not UTF-8 closes 1007 *with a
    reason* (docs/protocol.md) instead of an empty one and a logged traceback.

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
