"""What the fuzz modules share: targets by capability, an event loop for the conformance
helpers (async), and the after-fuzzing verdict: alive, healthy, serving, nothing leaked."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import urllib.parse
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import httpx
from websockets.exceptions import ConnectionClosed

from conformance import endpoints
from conformance.checks.common import (
    delivery_verdict,
    member_troubles,
    publish_series,
    wait_all,
)
from conformance.checks.health import health_problem
from conformance.context import CheckContext
from conformance.result import Status
from conformance.runner import new_http_client
from conformance.websocket import open_websocket
from contract.addresses import health_url
from contract.registry import ASGI_LAUNCHER, TARGETS, TargetSpec
from tbench.process import TargetProcess
from tests.waiting import wait_until

T = TypeVar("T")

HTTP_TARGETS = [spec for spec in TARGETS.values() if spec.family != "websocket"]
WEBSOCKET_TARGETS = [spec for spec in TARGETS.values() if spec.family == "websocket"]
# Short: no fuzzed poll holds the (single-threaded) test for long, and streams ping rarely.
FUZZ_SERVER_ARGS = ("--long-poll-max-wait-s", "0.05", "--sse-ping-s", "60")
# Enough Lambda environments for every route to stay warm: the fuzzing is sequential, but a
# $disconnect, the next $connect and a frame's route may overlap.
EMULATOR_ARGS = ("--max-workers", "6")
SETTLE_S = 15.0  # for the server to notice every closed connection (generous: shared CPU)
WARM_UP_S = 60.0  # a Lambda cold start takes seconds on a loaded 2-core machine
ABANDONED = 20  # clients gone mid-request before the verdict (half with a RST)


class Harness:
    """A running target, a loop to drive the async conformance helpers, and their context."""

    def __init__(self, server: TargetProcess) -> None:
        self.server = server
        self.spec: TargetSpec = server.spec
        self.loop = asyncio.new_event_loop()
        self.ctx = CheckContext(server.spec, server.url, new_http_client())
        self.http = httpx.Client(timeout=10.0)

    @property
    def root(self) -> str:
        """`http://host:port`."""
        return f"http://{self.server.host}:{self.server.port}"

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a conformance helper to completion."""
        return self.loop.run_until_complete(coroutine)

    def healthy(self) -> bool:
        """`/healthz` answers 200 right now."""
        return self.http.get(health_url(self.server.host, self.server.port)).status_code == 200

    def close(self) -> None:
        """Close the clients and the loop (the server is stopped by its fixture)."""
        self.http.close()
        self.run(self.ctx.http.aclose())
        self.loop.close()


def start_harness(spec: TargetSpec) -> Iterator[Harness]:
    """Start `spec`'s server with fuzz-friendly limits, warmed up, and wrap it."""
    extra = FUZZ_SERVER_ARGS if spec.launcher == ASGI_LAUNCHER else EMULATOR_ARGS
    with TargetProcess(spec, extra_args=extra).start(timeout_s=60) as server:
        harness = Harness(server)
        try:
            # Every route once ($connect, sendMessage, $default, $disconnect on the lambda
            # target): a cold start (seconds here) must not count against a fuzzed answer.
            assert harness.run(roundtrip_failure(harness.ctx, "warm-up")) is None
            if spec.family == "websocket":
                harness.run(answer_to_unknown_action(harness.ctx))
            yield harness
        finally:
            harness.close()


async def answer_to_unknown_action(ctx: CheckContext) -> None:
    """Send a frame no route takes and wait (long: a cold start) for the answer."""
    ws = await open_websocket(endpoints.websocket_url(ctx.base_url, ctx.new_room("warm-up")))
    try:
        await ws.send('{"action": "warmUp"}')
        with contextlib.suppress(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), WARM_UP_S)
    finally:
        await ws.close()


async def roundtrip_failure(ctx: CheckContext, purpose: str) -> str | None:
    """Why two fresh members could not exchange messages, or None.

    As conformance judges delivery: reordering alone is no failure on a target that assigns
    no ids (API Gateway invokes Lambda concurrently: nothing sequences a room).
    """
    async with ctx.members(ctx.new_room(purpose), ["fresh1", "fresh2"]) as members:
        expected = await publish_series(members[0], "u1", 2)
        await wait_all(members, len(expected))
        verdict = delivery_verdict(ctx.spec, members, expected)
        if verdict is not None and verdict.status is Status.FAIL:
            return verdict.reason
        return member_troubles(members)


def abandon_connections(harness: Harness, count: int = ABANDONED) -> None:
    """Clients that go away mid-request: half of each request sent, then a FIN or a RST.

    What every fuzzed connection leaves behind, made here so that the verdict after fuzzing
    has something to release even when its test runs alone.
    """
    path = urllib.parse.urlsplit(endpoints.websocket_url(harness.root, "abandoned")).path
    request = f"GET {path}?since=0 HTTP/1.1\r\nHost: fuzz\r\nConnection: keep-alive\r\n\r\n"
    for index in range(count):
        sock = connect_raw(harness)
        sock.sendall(request.encode()[: len(request) // 2])
        close_abruptly(sock, reset=index % 2 == 0)


def serves_after_fuzzing(harness: Harness) -> None:
    """The verdict after fuzzing: alive, healthy, a fresh pair exchanges a message, every
    fuzzed connection released, and no traceback in the server's log."""
    abandon_connections(harness)
    assert harness.server.alive(), harness.server.log_tail()
    assert harness.run(health_problem(harness.ctx)) is None
    assert harness.run(roundtrip_failure(harness.ctx, "after-fuzz")) is None
    wait_until(
        lambda: harness.http.get(f"{harness.root}/healthz").json()["connections"] == 0,
        "every connection released after every client has gone",
        timeout_s=SETTLE_S,
    )
    log = harness.server.log_tail(200_000)
    assert "Traceback" not in log, log[-4000:]


def connect_raw(harness: Harness) -> socket.socket:
    """A plain TCP connection to the target."""
    return socket.create_connection((harness.server.host, harness.server.port), timeout=10)


def close_abruptly(sock: socket.socket, *, reset: bool) -> None:
    """Close; with `reset`, with a TCP RST instead of a FIN (SO_LINGER 0)."""
    if reset:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
