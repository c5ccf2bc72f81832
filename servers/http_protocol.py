"""uvicorn's httptools protocol plus the two limits the stock one lacks: head size and time.

The stock protocol buffers a request head of any size, and waits forever for a request that
never completes (its keep-alive timer runs only between requests): a client that connects and
sends nothing, or a header a byte at a time, or half a body, holds its connection for good.
Here, for every target alike:
- a request head (request line and headers) over MAX_HEAD_BYTES is answered 431 and closed;
- a connection whose request has not fully arrived (head and body) `request_timeout_s` after
  the connection opened or the request's first byte is dropped; an app still reading the
  body sees the client disconnect. Responses (held polls, streams) are not timed here;
- an unparsable request is answered 400 with the protocol's JSON error body.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from contract import codec
from servers.settings import Settings

MAX_HEAD_BYTES = 32 * 1024  # Node's default is 16 KiB; room for a browser's localhost cookies


@functools.cache
def request_timeout_s() -> float:
    """The `--request-timeout-s` the launcher exported (read once per process)."""
    return Settings.from_env().request_timeout_s


class HeadTooLarge(Exception):
    """Raised from a parser callback: stops parsing; uvicorn then calls send_400_response."""


class HttpProtocol(HttpToolsProtocol):
    """httptools with a bounded request head and a time limit on receiving each request."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._request_timer: asyncio.TimerHandle | None = None
        self._reading_head = False  # between a request's first byte and its last header
        self._message_began = False  # a request began in the chunk being parsed
        self._head_parsed = 0  # bytes of request line and complete headers
        self._head_received = 0  # bytes of later chunks that all belonged to the head
        self._head_too_large = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request."""
        super().connection_made(transport)
        self._start_request_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock."""
        self._cancel_request_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Parse as usual; refuse a head that keeps growing past the limit unfinished."""
        self._message_began = False
        super().data_received(data)
        if self._reading_head and not self._message_began and not self.transport.is_closing():
            # httptools buffers a header until it is complete, so the exact count in on_header
            # comes too late for one endless header: whole chunks of head bound it (+1 chunk).
            self._head_received += len(data)
            if self._head_received > MAX_HEAD_BYTES:
                self._head_too_large = True
                self.send_400_response("request head too large")

    def on_message_begin(self) -> None:
        """A request's first byte: its clock starts unless one runs already."""
        super().on_message_begin()
        self._reading_head = self._message_began = True
        self._head_parsed = self._head_received = 0
        self._start_request_timer()

    def on_url(self, url: bytes) -> None:
        """Count the request line."""
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """Count each header (trailers after a chunked body are not part of the head)."""
        if self._reading_head:
            self._count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        """The head is complete; an upgrade leaves this protocol, so its clock stops here."""
        self._reading_head = False
        if self.parser.should_upgrade():
            self._cancel_request_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        """The whole request arrived: what follows is the app's time, not the client's."""
        self._cancel_request_timer()
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        """Hand over to the WebSocket protocol with no clock left running."""
        self._cancel_request_timer()
        super().handle_websocket_upgrade()

    def send_400_response(self, msg: str) -> None:
        """Answer a request that cannot be served (bad syntax, head too large) and close."""
        self._cancel_request_timer()
        if self._head_too_large:
            status, error = 431, f"request head over {MAX_HEAD_BYTES} bytes"
            kind = "request_header_fields_too_large"
        else:
            status, error, kind = 400, msg, "bad_request"
        body = codec.dumps({"error": error, "kind": kind, "field": None})
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: %d\r\n" % len(body),
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()

    def _count_head(self, size: int) -> None:
        self._head_parsed += size
        if self._head_parsed > MAX_HEAD_BYTES:
            self._head_too_large = True
            raise HeadTooLarge  # httptools stops and raises; uvicorn answers via send_400_response

    def _start_request_timer(self) -> None:
        if self._request_timer is None:
            self._request_timer = self.loop.call_later(request_timeout_s(), self._timed_out)

    def _cancel_request_timer(self) -> None:
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None

    def _timed_out(self) -> None:
        """The client took too long to send its request: drop the connection."""
        self._request_timer = None
        if not self.transport.is_closing():
            self.transport.close()
