"""A lean RFC 6455 client over a counting socket: the Locust WebSocket user's receive path.

Lean on purpose: one recv() can carry many frames and they are split here without a Python
object per frame header, so the harness adds little to delivery latency (see
benchmarks/harness_overhead.py). No extensions are negotiated (no permessage-deflate), so
what is counted is plain RFC 6455 framing, as API Gateway speaks it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import threading
import time

from websockets.frames import CloseCode

from contract.overload import RefusalKind
from loadtests.refusals import Refusal, http_refusal
from loadtests.wire import (
    DEFAULT_TIMEOUT_S,
    CountingSocket,
    Endpoint,
    WireCounter,
    open_socket,
    parse_endpoint,
)

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
RECV_BYTES = 65536
MAX_HANDSHAKE_BYTES = 16384

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

INTERNAL_SERVER_ERROR = 500
# Close codes that are refusals: 1013 Try Again Later (a cap), 1006 the connection vanished.
CLOSE_REFUSALS: dict[int, RefusalKind] = {
    CloseCode.TRY_AGAIN_LATER: "ws_1013",
    CloseCode.ABNORMAL_CLOSURE: "reset",
}


class WebSocketError(Exception):
    """The handshake failed or the peer broke the protocol."""


class HandshakeEnded(WebSocketError, EOFError):
    """The server closed the connection before answering the upgrade."""


class HandshakeRefused(WebSocketError, Refusal):
    """The upgrade was answered with an HTTP status, not 101 (the client got no WebSocket)."""

    def __init__(self, status_line: str, status: int, headers: dict[str, str]) -> None:
        self.status = status
        self.headers = headers  # lower-case names
        self.kind, self.hint_s = http_refusal(status, headers)
        if status == INTERNAL_SERVER_ERROR:
            # API Gateway's answer when the $connect Lambda failed or was throttled
            self.kind = "throttled"
        super().__init__(f"handshake refused: {status_line}")


class WebSocketClosed(Refusal):
    """The connection ended: the peer's close code and reason (1006 if it just vanished)."""

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason
        self.kind = CLOSE_REFUSALS.get(code)
        super().__init__(f"closed {code}: {reason}" if reason else f"closed {code}")


def mask_payload(mask_key: bytes, payload: bytes) -> bytes:
    """XOR a payload with the 4-byte mask, as one big-integer operation (fast in CPython)."""
    size = len(payload)
    if size == 0:
        return payload
    key_stream = (mask_key * (size // 4 + 1))[:size]
    masked = int.from_bytes(payload, "little") ^ int.from_bytes(key_stream, "little")
    return masked.to_bytes(size, "little")


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """A single final client frame: masked, as RFC 6455 §5.3 requires of clients."""
    size = len(payload)
    head = bytes((0x80 | opcode,))
    if size < 126:
        head += bytes((0x80 | size,))
    elif size < 65536:
        head += bytes((0x80 | 126,)) + size.to_bytes(2, "big")
    else:
        head += bytes((0x80 | 127,)) + size.to_bytes(8, "big")
    mask_key = random.getrandbits(32).to_bytes(4, "big")
    return head + mask_key + mask_payload(mask_key, payload)


def frame_header(buffer: bytearray, pos: int) -> tuple[int, int, bytes] | None:
    """(header size, payload length, mask key) of the frame starting at `pos` (at least two
    bytes there), or None while its header is still incomplete."""
    available = len(buffer) - pos
    second = buffer[pos + 1]
    length = second & 0x7F
    header = 2
    if length == 126:
        if available < 4:
            return None
        length = int.from_bytes(buffer[pos + 2 : pos + 4], "big")
        header = 4
    elif length == 127:
        if available < 10:
            return None
        length = int.from_bytes(buffer[pos + 2 : pos + 10], "big")
        header = 10
    mask_key = b""
    if second & 0x80:  # servers must not mask, but be liberal in what we accept
        if available < header + 4:
            return None
        mask_key = bytes(buffer[pos + header : pos + header + 4])
        header += 4
    return header, length, mask_key


def accept_key(client_key: bytes) -> bytes:
    """The Sec-WebSocket-Accept value a server must answer to `client_key`."""
    return base64.b64encode(hashlib.sha1(client_key + WS_GUID).digest())


class WebSocketConnection:
    """An open client WebSocket: send text frames, receive batches of text messages."""

    def __init__(self, sock: CountingSocket, leftover: bytes = b"") -> None:
        self.sock = sock
        self._buffer = bytearray(leftover)
        self._fragments: list[bytes] = []
        self._send_lock = threading.Lock()  # a gevent lock under Locust: pongs vs publishes
        self._close_sent = False
        self.last_received_at = time.time()  # wall clock of the last recv() that brought bytes

    @classmethod
    def connect(
        cls, url: str, counter: WireCounter, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> WebSocketConnection:
        """Open a TCP (or TLS) connection and complete the opening handshake."""
        endpoint = parse_endpoint(url)
        sock = open_socket(endpoint, counter, timeout_s)
        try:
            leftover = _handshake(sock, endpoint)
        except BaseException:
            sock.close()
            raise
        # No timeout once open: a quiet room is normal (the server's pings keep it honest),
        # and under gevent every recv with a timeout arms a timer - a cost per message.
        sock.settimeout(None)
        return cls(sock, leftover)

    def refused_at_once(self, wait_s: float) -> None:
        """Wait up to `wait_s` for the first bytes; raise WebSocketClosed if they are a close.

        A server at its cap accepts the handshake and closes at once (1013): the client must
        look at what comes first to know it was refused, not joined. Bytes that arrive are
        kept for receive(), stamped with when they arrived.
        """
        if not self._buffer:
            self.sock.settimeout(wait_s)
            try:
                data = self.sock.recv(RECV_BYTES)
            except TimeoutError:
                return  # nothing yet: a quiet room, joined
            finally:
                self.sock.settimeout(None)
            if not data:
                raise WebSocketClosed(CloseCode.ABNORMAL_CLOSURE, "connection lost")
            self.last_received_at = time.time()
            self._buffer += data
        if len(self._buffer) >= 2 and self._buffer[0] & 0x0F == OP_CLOSE:
            self._parse_into([])  # raises WebSocketClosed once the close frame is complete

    def send_text(self, payload: bytes) -> None:
        """Send one text message (UTF-8 bytes) in one masked frame."""
        frame = encode_frame(OP_TEXT, payload)
        with self._send_lock:
            self.sock.sendall(frame)

    def receive(self) -> list[bytes]:
        """Block until a text message arrives; return every complete one (pings answered)."""
        # raises WebSocketClosed on a close frame or at end of stream
        messages: list[bytes] = []
        while True:
            if self._buffer:
                self._parse_into(messages)
                if messages:
                    return messages
            data = self.sock.recv(RECV_BYTES)
            if not data:
                raise WebSocketClosed(CloseCode.ABNORMAL_CLOSURE, "connection lost")
            self.last_received_at = time.time()
            self._buffer += data

    def _parse_into(self, messages: list[bytes]) -> None:
        buffer = self._buffer
        size = len(buffer)
        pos = 0
        while size - pos >= 2:
            parsed = frame_header(buffer, pos)
            if parsed is None:
                break
            header, length, mask_key = parsed
            end = pos + header + length
            if end > size:
                break
            payload = bytes(buffer[pos + header : end])
            if mask_key:
                payload = mask_payload(mask_key, payload)
            first = buffer[pos]
            pos = end
            self._handle_frame(first, payload, messages)
        if pos:
            del buffer[:pos]

    def _handle_frame(self, first: int, payload: bytes, messages: list[bytes]) -> None:
        opcode = first & 0x0F
        final = first & 0x80
        if opcode in (OP_TEXT, OP_BINARY, OP_CONTINUATION):
            if final and not self._fragments:
                messages.append(payload)
            elif final:
                messages.append(b"".join([*self._fragments, payload]))
                self._fragments.clear()
            else:
                self._fragments.append(payload)
        elif opcode == OP_PING:
            with self._send_lock:
                self.sock.sendall(encode_frame(OP_PONG, payload))
        elif opcode == OP_CLOSE:
            code = (
                int.from_bytes(payload[:2], "big")
                if len(payload) >= 2
                else CloseCode.NO_STATUS_RCVD
            )
            reason = payload[2:].decode(errors="replace")
            self._send_close(code if code != CloseCode.NO_STATUS_RCVD else CloseCode.NORMAL_CLOSURE)
            raise WebSocketClosed(code, reason)
        # pongs and reserved opcodes are ignored

    def _send_close(self, code: int, reason: str = "") -> None:
        if self._close_sent:
            return
        self._close_sent = True
        try:
            with self._send_lock:
                self.sock.sendall(encode_frame(OP_CLOSE, code.to_bytes(2, "big") + reason.encode()))
        except OSError:
            pass  # the peer is gone already; nothing left to tell it

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Send a close frame (once) and close the socket without waiting for the echo."""
        self._send_close(code, reason)
        self.sock.close()


def _handshake(sock: CountingSocket, endpoint: Endpoint) -> bytes:
    """Send the upgrade request, check the 101 answer; return bytes already past the head."""
    key = base64.b64encode(os.urandom(16))
    request = (
        f"GET {endpoint.target} HTTP/1.1\r\n"
        f"Host: {endpoint.host_header}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key.decode()}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    )
    sock.sendall(request.encode("latin-1"))
    received = b""
    while b"\r\n\r\n" not in received:
        if len(received) > MAX_HANDSHAKE_BYTES:
            raise WebSocketError("handshake response head too large")
        chunk = sock.recv(4096)
        if not chunk:
            raise HandshakeEnded("connection closed during the handshake")
        received += chunk
    head, _, leftover = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if len(parts) < 2 or parts[1] != "101":
        status = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0
        raise HandshakeRefused(status_line, status, headers)
    if headers.get("sec-websocket-accept", "").encode() != accept_key(key):
        raise WebSocketError("handshake answered with a wrong Sec-WebSocket-Accept")
    return leftover
