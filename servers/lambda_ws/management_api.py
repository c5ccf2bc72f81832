"""The @connections API for the emulator's own functions: lean HTTP/1.1 on a loopback port.

The handlers' `post_to_connection` calls are most of what the gateway serves (one per
recipient per message). On AWS they cost the function's SDK call, never the function's CPU
on the gateway's side, so the emulator answers them here: httptools parses, keep-alive, no
ASGI stack, and the same `Gateway.management_call` the public `/{stage}/@connections/{id}`
route answers with (what boto3 sees is the same). Requests on a connection are answered in
order, one at a time, as botocore sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import urllib.parse
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import cast

import httptools
from starlette.responses import Response

CONNECTIONS_PATH = "@connections"


BodyReader = Callable[[], Awaitable[bytes]]
# `Gateway.management_call(method, stage, connection_id, body_bytes, read_body)`.
ManagementCall = Callable[[str, str, str, int, BodyReader], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    """One request as received: the body kept only up to the limit, its full size counted."""

    method: str
    path: str
    body: bytes
    body_bytes: int
    keep_alive: bool


def encode_response(response: Response, *, keep_alive: bool) -> bytes:
    """The response's status line, headers and body."""
    reason = HTTPStatus(response.status_code).phrase
    lines = [f"HTTP/1.1 {response.status_code} {reason}".encode()]
    lines += [name + b": " + value for name, value in response.raw_headers]
    if not keep_alive:
        lines.append(b"connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + bytes(response.body)


def plain_response(status: int) -> Response:
    """An error answer for a request that is not an @connections call."""
    return Response(HTTPStatus(status).phrase, status_code=status, media_type="text/plain")


class ManagementApiProtocol(asyncio.Protocol):
    """One client connection (a worker's botocore pool member)."""

    def __init__(self, call: ManagementCall, max_body_bytes: int) -> None:
        self.call = call
        self.max_body_bytes = max_body_bytes
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.pending: deque[ParsedRequest] = deque()
        self.server: asyncio.Task[None] | None = None
        self._url = b""
        self._body = bytearray()
        self._body_bytes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport."""
        self.transport = cast(asyncio.Transport, transport)  # uvloop's: no asyncio subclass

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop what is queued."""
        self.pending.clear()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        """Parse; complete requests queue for `_serve`."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._write(plain_response(400), keep_alive=False)

    # httptools callbacks
    def on_message_begin(self) -> None:
        """A new request."""
        self._url = b""
        self._body = bytearray()
        self._body_bytes = 0

    def on_url(self, url: bytes) -> None:
        """(Part of) the request target."""
        self._url += url

    def on_body(self, body: bytes) -> None:
        """Keep the body up to one byte over the limit (enough to refuse it), count the rest."""
        self._body_bytes += len(body)
        room = self.max_body_bytes + 1 - len(self._body)
        if room > 0:
            self._body += body[:room]

    def on_message_complete(self) -> None:
        """Queue the request; start serving the queue unless it is being served."""
        path = urllib.parse.unquote(httptools.parse_url(self._url).path.decode("latin-1"))
        self.pending.append(
            ParsedRequest(
                self.parser.get_method().decode("ascii"),
                path,
                bytes(self._body),
                self._body_bytes,
                self.parser.should_keep_alive(),
            )
        )
        if self.server is None or self.server.done():
            self.server = asyncio.get_running_loop().create_task(self._serve())

    async def _serve(self) -> None:
        while self.pending and self.transport is not None:
            request = self.pending.popleft()
            response = await self._answer(request)
            self._write(response, keep_alive=request.keep_alive)

    async def _answer(self, request: ParsedRequest) -> Response:
        parts = request.path.split("/")  # "", stage, "@connections", id
        if len(parts) != 4 or parts[0] or parts[2] != CONNECTIONS_PATH or not parts[3]:
            return plain_response(404)
        if request.method not in ("GET", "POST", "DELETE"):
            return plain_response(405)

        async def read_body() -> bytes:
            return request.body

        return await self.call(request.method, parts[1], parts[3], request.body_bytes, read_body)

    def _write(self, response: Response, *, keep_alive: bool) -> None:
        if self.transport is None:
            return
        self.transport.write(encode_response(response, keep_alive=keep_alive))
        if not keep_alive:
            self.transport.close()
            self.transport = None


async def serve_management_api(
    call: ManagementCall, max_body_bytes: int, sock: socket.socket
) -> asyncio.Server:
    """Serve the API on an already bound listening socket."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: ManagementApiProtocol(call, max_body_bytes), sock=sock)


async def close_server(server: asyncio.Server) -> None:
    """Stop accepting; keep-alive connections still open end with the process."""
    server.close()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(server.wait_closed(), 1.0)
