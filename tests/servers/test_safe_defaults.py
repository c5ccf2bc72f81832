"""Safe defaults: loopback only, bounded request heads, slow requests dropped, waits capped."""

from __future__ import annotations

import select
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from contract.addresses import free_port, health_url
from contract.registry import TARGETS
from servers.http_protocol import MAX_HEAD_BYTES
from tbench.process import spawn_in_own_group, stop_group, wait_healthy
from tests.servers.conftest import started
from tests.servers.helpers import TIMEOUT, http_root, new_room, publish

pytestmark = pytest.mark.slow  # starts servers or runs: not in `make test-fast`

REQUEST_TIMEOUT_S = 1.0
DROP_WITHIN_S = 8.0  # generous: the machine is shared; the point is "not forever"


@pytest.fixture(scope="module")
def strict() -> Iterator[tuple[str, int]]:
    """A long-polling server that allows 1 s to send a request and holds polls at most 1 s."""
    server = started(
        "long-polling",
        *("--request-timeout-s", str(REQUEST_TIMEOUT_S), "--long-poll-max-wait-s", "1"),
    )
    yield server.host, server.port
    server.stop()


def _listening_addresses(pid: int) -> set[str]:
    """The addresses the process and its children listen on."""
    parent = psutil.Process(pid)
    addresses = set()
    for proc in [parent, *parent.children(recursive=True)]:
        for conn in proc.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN:
                addresses.add(conn.laddr.ip)
    return addresses


def test_every_target_started_without_host_listens_on_loopback_only(tmp_path: Path):
    launched = []
    try:
        for spec in TARGETS.values():
            port = free_port()
            argv = [sys.executable, "-m", spec.launcher, spec.app, "--port", str(port)]
            proc = spawn_in_own_group([*argv, *spec.extra_args], tmp_path / f"{spec.name}.log")
            launched.append((spec.name, port, proc))
        for name, port, proc in launched:
            wait_healthy(health_url("127.0.0.1", port), 60, proc)
            assert _listening_addresses(proc.pid) == {"127.0.0.1"}, name
    finally:
        for _, _, proc in launched:
            stop_group(proc)


def _connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=DROP_WITHIN_S + 2)
    return sock


def _seconds_until_closed(sock: socket.socket) -> float:
    """Read until the server closes; how long that took. Nothing may be answered."""
    started_at = time.monotonic()
    with sock:
        assert sock.recv(1024) == b""
    return time.monotonic() - started_at


@pytest.mark.parametrize(
    "partial",
    [
        b"",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
        b'POST /rooms/r/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 90\r\n\r\n{"sender"',
        b"GET /ws?room=r HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
    ],
    ids=["nothing", "half a head", "half a body", "half an upgrade"],
)
def test_a_request_that_never_completes_is_dropped(strict: tuple[str, int], partial: bytes):
    sock = _connect(strict)
    sock.sendall(partial)
    assert REQUEST_TIMEOUT_S * 0.8 <= _seconds_until_closed(sock) < DROP_WITHIN_S
    assert httpx.get(health_url(*strict), timeout=TIMEOUT).status_code == 200


def test_the_request_timeout_does_not_cut_a_held_poll(strict: tuple[str, int]):
    # Held 1 s (the wait cap) plus the wait for it: the clock stops once the request is in.
    started_at = time.monotonic()
    url = f"{http_root_of(strict)}/rooms/{new_room()}/messages"
    response = httpx.get(url, params={"since": 0, "wait": 3600}, timeout=TIMEOUT)
    assert response.json() == {"messages": [], "last_id": 0}
    assert 0.8 <= time.monotonic() - started_at < DROP_WITHIN_S  # capped at 1 s, not 3600


def http_root_of(address: tuple[str, int]) -> str:
    """`http://host:port`."""
    return f"http://{address[0]}:{address[1]}"


def _head(extra_header_bytes: int) -> bytes:
    return b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * extra_header_bytes + b"\r\n\r\n"


def test_a_head_just_under_the_limit_is_served(strict: tuple[str, int]):
    with _connect(strict) as sock:
        sock.sendall(_head(MAX_HEAD_BYTES - 200))
        assert sock.recv(1024).startswith(b"HTTP/1.1 200 ")


def _read_all(sock: socket.socket) -> bytes:
    answer = b""
    while chunk := sock.recv(4096):
        answer += chunk
    return answer


def test_a_head_over_the_limit_in_one_write_is_answered_431(strict: tuple[str, int]):
    with _connect(strict) as sock:
        sock.sendall(_head(MAX_HEAD_BYTES + 1000))
        answer = _read_all(sock)
    _assert_431(answer)
    assert httpx.get(health_url(*strict), timeout=TIMEOUT).status_code == 200


def test_an_endless_header_is_answered_431_once_over_the_limit(strict: tuple[str, int]):
    # One header, a piece at a time, never finished: httptools would buffer it for good.
    with _connect(strict) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        sent = 0
        while sent < 4 * MAX_HEAD_BYTES:
            sock.sendall(b"a" * 1000)
            sent += 1000
            if select.select([sock], [], [], 0.005)[0]:
                break  # answered: stop sending (more would make the kernel reset the socket)
        answer = _read_all(sock)
    assert MAX_HEAD_BYTES < sent < 4 * MAX_HEAD_BYTES
    _assert_431(answer)


def _assert_431(answer: bytes) -> None:
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"application/json" in status
    assert b'"kind":"request_header_fields_too_large"' in body


def test_unparsable_bytes_get_a_json_400(strict: tuple[str, int]):
    with _connect(strict) as sock:
        sock.sendall(b"\x16\x03\x01 not HTTP at all\r\n\r\n")  # e.g. a TLS hello
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b'"kind":"bad_request"' in answer


def test_a_client_gone_mid_body_leaves_no_traceback_and_the_server_serves_on():
    server = started("short-polling")
    try:
        for cut in (1, 20):
            with _connect((server.host, server.port)) as sock:
                # 100-continue: the server answers it once the app reads the body, so the
                # client leaves while the body is being read, not before.
                sock.sendall(
                    b"POST /rooms/r/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 90\r\n"
                    b"Expect: 100-continue\r\n\r\n"
                )
                assert sock.recv(4096).startswith(b"HTTP/1.1 100 ")
                sock.sendall(b'{"sender": "u", "seq": 1'[:cut])
        assert publish(server, new_room())["id"] == 1
        assert httpx.get(f"{http_root(server)}/healthz", timeout=TIMEOUT).status_code == 200
    finally:
        server.stop()
    assert "Traceback" not in server.log_tail(20_000)
