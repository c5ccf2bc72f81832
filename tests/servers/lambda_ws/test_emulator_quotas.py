"""Quotas and Lambda behaviour with limits shortened: throttling, timeouts, reclaim, rate."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import CloseCode
from websockets.sync.client import ClientConnection, connect

from contract.lambda_report import EmulatorRecord, LambdaReport
from tests.waiting import wait_until

from .conftest import Emulator, start_emulator, unique_room
from .events import frame

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

CONCURRENCY_LIMIT = 2
IDLE_TIMEOUT_S = 3.0
MAX_CONNECTION_S = 6.0
ENV_IDLE_S = 1.0
NEW_CONNECTIONS_PER_S = 5
RECV_S = 30.0


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """An emulator with its own DynamoDB (dynalite) and every limit small."""
    running = start_emulator(
        tmp_path_factory.mktemp("quotas"),
        *("--concurrency-limit", str(CONCURRENCY_LIMIT), "--max-workers", "2"),
        *("--idle-timeout-s", str(IDLE_TIMEOUT_S), "--max-connection-s", str(MAX_CONNECTION_S)),
        *("--env-idle-s", str(ENV_IDLE_S)),
        *("--new-connections-per-s", str(NEW_CONNECTIONS_PER_S)),
    )
    yield running
    running.process.stop()


def receive_keeping_alive(client: ClientConnection, count: int) -> list[dict[str, Any]]:
    """`count` messages, pinging meanwhile so the idle timeout does not end the wait."""
    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + RECV_S
    while len(received) < count and time.monotonic() < deadline:
        client.ping()
        try:
            received.append(json.loads(client.recv(timeout=0.5)))
        except TimeoutError:
            continue
    return received


def test_invocations_beyond_the_concurrency_limit_are_throttled(emulator: Emulator) -> None:
    room = unique_room("throttle")
    with connect(emulator.url(room)) as client:
        connection_id = emulator.connection_id(room)
        for seq in range(1, CONCURRENCY_LIMIT + 1):  # each holds an execution for 1.5 s
            client.send(frame(room=room, seq=seq, sleep_s=1.5))
        client.send(frame(room=room, seq=CONCURRENCY_LIMIT + 1))
        error = json.loads(client.recv(timeout=RECV_S))
        assert error["message"] == "Internal server error"
        assert error["connectionId"] == connection_id
        assert isinstance(error["requestId"], str)

        with pytest.raises(InvalidStatus) as refused:  # $connect is throttled too
            connect(emulator.url(unique_room("throttle")))
        assert refused.value.response.status_code == 500

        delivered = receive_keeping_alive(client, CONCURRENCY_LIMIT)
        assert sorted(message["seq"] for message in delivered) == [1, 2]
    stats = emulator.stats()
    assert stats["lambda"]["throttles"] >= 2
    assert stats["lambda"]["concurrent_executions_max"] == CONCURRENCY_LIMIT
    assert stats["gateway"]["connect_failures"] >= 1
    assert stats["gateway"]["integration_failures"] >= 1


def test_an_idle_connection_is_closed_after_the_idle_timeout(emulator: Emulator) -> None:
    room = unique_room("idle")
    with connect(emulator.url(room)) as client:
        opened = time.monotonic()
        connection_id = emulator.connection_id(room)
        with pytest.raises(ConnectionClosed) as closed:
            client.recv(timeout=RECV_S)
        idle_for = time.monotonic() - opened
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == CloseCode.GOING_AWAY
    assert IDLE_TIMEOUT_S - 0.2 <= idle_for < IDLE_TIMEOUT_S + 10
    disconnect = wait_until(
        lambda: next(
            (
                e
                for e in emulator.events()
                if e["requestContext"]["connectionId"] == connection_id
                and e["requestContext"]["eventType"] == "DISCONNECT"
            ),
            None,
        ),
        "the $disconnect event",
        timeout_s=RECV_S,
    )
    assert disconnect["requestContext"]["disconnectStatusCode"] == CloseCode.GOING_AWAY
    assert disconnect["requestContext"]["disconnectReason"] == "Going away"


def test_pings_keep_a_connection_until_its_maximum_duration(emulator: Emulator) -> None:
    with connect(emulator.url(unique_room("max"))) as client:
        opened = time.monotonic()
        code = None
        while time.monotonic() - opened < MAX_CONNECTION_S + 10:
            try:
                client.recv(timeout=0.5)
            except TimeoutError:
                with contextlib.suppress(ConnectionClosed):  # the next recv() reports it
                    client.ping()  # activity: the idle timeout never fires
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else None
                break
        lived = time.monotonic() - opened
    assert code == CloseCode.GOING_AWAY
    assert lived >= MAX_CONNECTION_S - 0.2 > IDLE_TIMEOUT_S
    assert emulator.stats()["gateway"]["closed_max_duration"] >= 1


def test_idle_environments_are_reclaimed_and_the_next_start_is_cold(emulator: Emulator) -> None:
    wait_until(lambda: emulator.stats()["lambda"]["environments_live"] == 0, timeout_s=RECV_S)
    before = emulator.stats()["lambda"]
    assert before["environments_reclaimed"] >= 1
    room = unique_room("reclaim")
    with connect(emulator.url(room)):
        pass
    lines = emulator.report_log.read_text().splitlines()
    connects = [
        record.request_id
        for record in map(EmulatorRecord.parse, lines)
        if record is not None and record.function == "ConnectFunction"
    ]
    reports = {r.request_id: r for r in map(LambdaReport.parse, lines) if r is not None}
    assert reports[connects[-1]].init_duration_ms is not None  # a fresh environment again
    assert emulator.stats()["lambda"]["cold_starts"] > before["cold_starts"]


def handshake_status(url: str) -> int:
    """101 if the handshake succeeded, else the HTTP status it was refused with."""
    try:
        with connect(url, open_timeout=RECV_S):
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


def test_new_connections_over_the_rate_limit_are_refused_with_429(emulator: Emulator) -> None:
    urls = [emulator.url(unique_room("rate")) for _ in range(4 * NEW_CONNECTIONS_PER_S)]
    with ThreadPoolExecutor(max_workers=len(urls)) as pool:
        statuses = list(pool.map(handshake_status, urls))
    assert 429 in statuses
    assert set(statuses) <= {101, 429, 500}  # 500: $connect throttled at concurrency 2
    assert emulator.stats()["gateway"]["connections_rate_limited"] >= 1
