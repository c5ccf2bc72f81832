"""A keep-alive HTTP/1.1 connection over a counting socket, parsed by geventhttpclient's C parser.

Requests are written here (a handful of headers, like a lean client; a browser sends far more)
and responses parsed by geventhttpclient's `HTTPSocketResponse`, so every byte is counted at
the socket and no pool hides a connection.
"""

from __future__ import annotations

import select
from dataclasses import dataclass

from geventhttpclient.response import HTTPSocketResponse

from loadtests.wire import (
    DEFAULT_TIMEOUT_S,
    CountingSocket,
    WireCounter,
    open_socket,
    parse_endpoint,
)

USER_AGENT = "tbench-locust"
RECV_BYTES = 65536


class HttpConnectionError(OSError):
    """The connection failed or closed before a complete response."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A complete response: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes


class HttpConnection:
    """One persistent connection to a base URL; reconnects when the server closed it."""

    def __init__(
        self, base_url: str, counter: WireCounter, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.endpoint = parse_endpoint(base_url)
        self.base_path = self.endpoint.target.split("?", 1)[0].rstrip("/")
        self.counter = counter
        self.timeout_s = timeout_s
        self._sock: CountingSocket | None = None

    def _socket(self) -> CountingSocket:
        sock = self._sock
        if sock is not None and _closed_by_peer(sock):
            sock.close()
            sock = None
        if sock is None:
            sock = open_socket(self.endpoint, self.counter, self.timeout_s)
            self._sock = sock
        return sock

    def request_head(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str] | None
    ) -> bytes:
        """The request line and headers this connection sends (a few, like a lean client)."""
        lines = [
            f"{method} {self.base_path}{path} HTTP/1.1",
            f"Host: {self.endpoint.host_header}",
            f"User-Agent: {USER_AGENT}",
        ]
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        if headers:
            lines += [f"{name}: {value}" for name, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def open(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> HTTPSocketResponse:
        """Send a request and return once the response head is read (body still to read)."""
        sock = self._socket()
        sock.settimeout(timeout_s if timeout_s is not None else self.timeout_s)
        try:
            sock.sendall(self.request_head(method, path, body, headers) + (body or b""))
            return HTTPSocketResponse(sock, block_size=RECV_BYTES, method=method)
        except Exception as exc:
            self.close()
            raise HttpConnectionError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> HttpResponse:
        """Send a request and read the whole response; the connection stays open if allowed."""
        response = self.open(method, path, body, headers, timeout_s)
        try:
            content = response.read()
        except Exception as exc:
            self.close()
            raise HttpConnectionError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        if response.should_close():
            self.close()
        names = {name.lower(): value for name, value in response.items()}
        return HttpResponse(response.status_code, names, content)

    def detach(self) -> CountingSocket | None:
        """Hand the socket over (to a streaming response's owner); this connection forgets it."""
        sock, self._sock = self._sock, None
        return sock

    def close(self) -> None:
        """Close the connection; the next request opens a new one."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _closed_by_peer(sock: CountingSocket) -> bool:
    """An idle keep-alive socket that is readable has been closed (or is broken)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0.0)
    except (OSError, ValueError):
        return True
    return bool(readable)
