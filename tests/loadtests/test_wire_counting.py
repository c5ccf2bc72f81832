"""Bytes are counted at the client socket: handshake, HTTP heads and WS framing included."""

from __future__ import annotations

import socket

from contract import codec
from contract.messages import SEND_ACTION, Publish
from loadtests.http_client import HttpConnection
from loadtests.websocket_client import WebSocketConnection, frame_header
from loadtests.wire import WireCounter
from tbench.process import TargetProcess


def test_websocket_frames_cost_2_bytes_down_and_6_up(websocket_server: TargetProcess):
    counter = WireCounter()
    connection = WebSocketConnection.connect(f"{websocket_server.url}?room=wire", counter)
    handshake_sent, handshake_received = counter.snapshot()
    assert handshake_sent > 100  # the upgrade request's head
    assert handshake_received > 100  # the 101 response's head
    frames = [
        codec.dumps(Publish("wire", "s", seq, "x" * 20, 1.0).to_json(action=SEND_ACTION))
        for seq in (1, 2, 3)
    ]
    for frame in frames:
        connection.send_text(frame)
    echoes: list[bytes] = []
    while len(echoes) < 3:
        echoes += connection.receive()
    connection.close()
    sent, received = counter.snapshot()
    # RFC 6455 §5.2: 2-byte header + 4-byte mask client->server, 2-byte header back (< 126 B)
    assert sent - handshake_sent == sum(6 + len(f) for f in frames) + 6 + 2  # + our close frame
    assert received - handshake_received >= sum(2 + len(e) for e in echoes)
    assert received - handshake_received <= sum(2 + len(e) for e in echoes) + 4 + 125  # + close
    assert [codec.loads(e)["seq"] for e in echoes] == [1, 2, 3]


def _raw_exchange(host: str, port: int, request: bytes) -> bytes:
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            body += sock.recv(65536)
        return head + b"\r\n\r\n" + body


def test_http_counts_equal_what_a_raw_socket_moves(short_polling_server: TargetProcess):
    counter = WireCounter()
    connection = HttpConnection(short_polling_server.url, counter)
    response = connection.request("GET", "/rooms/wire/messages")
    connection.close()
    assert response.status == 200
    sent, received = counter.snapshot()
    request = connection.request_head("GET", "/rooms/wire/messages", None, None)
    assert sent == len(request)
    raw = _raw_exchange(short_polling_server.host, short_polling_server.port, request)
    assert received == len(raw)  # head + body, exactly what crossed the socket
    assert received > len(response.body) + 50


def test_frame_headers_of_every_length_form_and_a_masked_frame():
    for size, length_field in ((125, b""), (126, (126).to_bytes(2, "big"))):
        head = bytes([0x81, size if not length_field else 126]) + length_field
        frame = bytearray(b"xx" + head + b"a" * size)  # after two bytes of an earlier frame
        assert frame_header(frame, 2) == (len(head), size, b"")
    long_head = bytes([0x81, 127]) + (70_000).to_bytes(8, "big")
    assert frame_header(bytearray(long_head), 0) == (10, 70_000, b"")
    assert frame_header(bytearray(long_head[:9]), 0) is None  # its length not all there yet
    masked = bytearray([0x81, 0x80 | 5, 1, 2, 3, 4]) + b"hello"
    assert frame_header(masked, 0) == (6, 5, b"\x01\x02\x03\x04")
    assert frame_header(masked[:5], 0) is None  # the mask key not all there yet
