"""Client sockets that count the bytes crossing them (HTTP headers and WS framing included)."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_TIMEOUT_S = 30.0


@dataclass(slots=True)
class WireCounter:
    """Bytes sent and received at the client sockets of one process, and connections opened."""

    bytes_sent: int = 0
    bytes_received: int = 0
    connections_opened: int = 0

    def snapshot(self) -> tuple[int, int]:
        """(bytes sent, bytes received) now."""
        return self.bytes_sent, self.bytes_received


class CountingSocket:
    """A connected socket whose sendall/recv add what they move to a WireCounter."""

    # Over plain TCP the count is exactly the bytes on the wire; under TLS it is the
    # plaintext (the TLS layer is C code the client cannot see into).

    __slots__ = ("counter", "sock")

    def __init__(self, sock: socket.socket, counter: WireCounter) -> None:
        self.sock = sock
        self.counter = counter

    def sendall(self, data: bytes) -> None:
        """Send every byte, then count them."""
        self.sock.sendall(data)
        self.counter.bytes_sent += len(data)

    def recv(self, max_bytes: int) -> bytes:
        """Receive up to `max_bytes` (b"" at end of stream) and count them."""
        data = self.sock.recv(max_bytes)
        self.counter.bytes_received += len(data)
        return data

    def settimeout(self, timeout_s: float | None) -> None:
        """Set the blocking timeout of the underlying socket."""
        self.sock.settimeout(timeout_s)

    def fileno(self) -> int:
        """The file descriptor (for select/poll)."""
        return self.sock.fileno()

    def close(self) -> None:
        """Close the socket; safe to call twice."""
        self.sock.close()


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a URL points: host, port, TLS or not, and the request target (path?query)."""

    host: str
    port: int
    tls: bool
    target: str

    @property
    def host_header(self) -> str:
        """The Host header value (port omitted when it is the scheme's default)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default_port = 443 if self.tls else 80
        return host if self.port == default_port else f"{host}:{self.port}"


def parse_endpoint(url: str) -> Endpoint:
    """Split an http(s):// or ws(s):// URL into an Endpoint."""
    parts = urlsplit(url)
    tls = parts.scheme in ("https", "wss")
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
        raise ValueError(f"not an http(s) or ws(s) URL: {url!r}")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return Endpoint(parts.hostname, parts.port or (443 if tls else 80), tls, target)


def open_socket(
    endpoint: Endpoint, counter: WireCounter, timeout_s: float = DEFAULT_TIMEOUT_S
) -> CountingSocket:
    """Connect (TCP_NODELAY: latency matters more than packet count here), TLS if asked."""
    sock = socket.create_connection((endpoint.host, endpoint.port), timeout=timeout_s)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if endpoint.tls:
        sock = ssl.create_default_context().wrap_socket(sock, server_hostname=endpoint.host)
    counter.connections_opened += 1
    return CountingSocket(sock, counter)
