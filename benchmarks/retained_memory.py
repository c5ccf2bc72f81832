"""Retained memory: bytes of server RSS per message kept in history, per container target.

Method. Each target is started alone with a history bound far above what is published
(`--history-size` 1,000,000 and `TBENCH_HISTORY_MAX_AGE_S` a day), so every message published
stays. Every room has one live subscriber on the push targets (an SSE stream; a WebSocket,
which also publishes the room's messages), so fan-out runs as it does in a real room; the
polling targets read history with `.data` only and need none. After a warm-up (first-use
allocations, the allocator's first arenas), the server's RSS (psutil) is sampled after every
`--step` messages, once the subscribers have received them all; the least-squares slope of RSS
over messages is the retained cost of one message. `gc.collect()` cannot be called inside the
server, so enough messages are published (30,000 by default) that the slope dominates the
allocator's noise; r² says how straight the line was.

    .venv/bin/python -m benchmarks.retained_memory [--targets websocket,sse,...]
        [--messages 30000] [--step 5000] [--rooms 10] [--body-bytes 256]

"encoded" is the size of one delivered message's JSON; "ratio" is RSS per message over it.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import httpx
import psutil
from websockets.asyncio.client import ClientConnection, connect

from contract import codec
from contract.messages import SEND_ACTION, Publish, padded_body
from contract.registry import TARGETS, TargetSpec
from tbench.process import Spawn, TargetProcess

TARGET_NAMES = ("short-polling", "long-polling", "sse", "websocket")
HISTORY_SIZE = 1_000_000  # far above what is published: nothing is trimmed
HISTORY_MAX_AGE_S = 86_400.0
WARMUP_MESSAGES = 2_000
BATCH = 500  # messages published before waiting for the subscribers to have them all
HTTP_LANES = 16  # concurrent POSTs, one sender each
CATCH_UP_TIMEOUT_S = 60.0
SETTLE_S = 0.3  # after the subscribers caught up: let the server finish its turn


@dataclass(frozen=True)
class Retained:
    """One target's measurement."""

    target: str
    encoded_bytes: int  # one delivered message's JSON
    bytes_per_message: float  # slope of RSS over messages retained
    r_squared: float
    rss_start_mib: float
    rss_end_mib: float
    messages: int


class Rooms:
    """The rooms' publishers and live subscribers for one target, counting what they receive."""

    def __init__(self, spec: TargetSpec, url: str, rooms: int, body_bytes: int) -> None:
        self.spec = spec
        self.url = url
        self.names = [f"retained-{index}" for index in range(rooms)]
        self.body = padded_body(body_bytes, "retained ")
        self.received = dict.fromkeys(self.names, 0)
        self.published = dict.fromkeys(self.names, 0)
        self.encoded_bytes = 0
        self.sockets: dict[str, ClientConnection] = {}
        self.http = httpx.AsyncClient(
            base_url=url, timeout=30.0, limits=httpx.Limits(max_connections=HTTP_LANES + rooms)
        )
        self._seq = itertools.count(1)
        self._readers: list[asyncio.Task[None]] = []

    async def open(self) -> None:
        """Connect the live subscribers (push targets only)."""
        for room in self.names:
            if self.spec.family == "websocket":
                socket = await connect(f"{self.url}?room={room}", compression=None, max_size=None)
                self.sockets[room] = socket
                self._readers.append(asyncio.create_task(self._read_socket(room, socket)))
            elif self.spec.family == "sse":
                self._readers.append(asyncio.create_task(self._read_stream(room)))
        await asyncio.sleep(0.5)  # the streams' heads are in: subscribed

    async def close(self) -> None:
        """Stop reading; close every connection."""
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        for socket in self.sockets.values():
            await socket.close()
        await self.http.aclose()

    async def publish(self, count: int) -> None:
        """Publish `count` messages spread evenly over the rooms; wait until all are received.

        In batches, each received before the next: no subscriber's send queue fills.
        """
        for start in range(0, count, BATCH):
            plan = [
                self.names[index % len(self.names)]
                for index in range(start, min(start + BATCH, count))
            ]
            if self.spec.family == "websocket":
                await self._publish_frames(plan)
            else:
                await self._publish_posts(plan)
            for room in plan:
                self.published[room] += 1
            await self._caught_up()

    async def _publish_posts(self, plan: list[str]) -> None:
        lanes = [plan[lane::HTTP_LANES] for lane in range(HTTP_LANES)]

        async def lane(sender: str, rooms: list[str]) -> None:
            for room in rooms:
                response = await self.http.post(
                    f"/rooms/{room}/messages", content=self._payload(room, sender)
                )
                response.raise_for_status()
                self.encoded_bytes = len(response.content)

        await asyncio.gather(*(lane(f"lane{i}", rooms) for i, rooms in enumerate(lanes)))

    async def _publish_frames(self, plan: list[str]) -> None:
        for room in plan:
            await self.sockets[room].send(self._payload(room, room, action=SEND_ACTION), text=True)

    def _payload(self, room: str, sender: str, action: str | None = None) -> bytes:
        publish = Publish(room, sender, next(self._seq), self.body, time.time())
        return codec.dumps(publish.to_json(action=action))

    async def _caught_up(self) -> None:
        if self.spec.family not in ("sse", "websocket"):
            return
        deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
        while self.received != self.published:
            if time.monotonic() > deadline:
                raise TimeoutError(f"subscribers behind: {self.received} of {self.published}")
            await asyncio.sleep(0.05)

    async def _read_socket(self, room: str, socket: ClientConnection) -> None:
        async for frame in socket:
            self.encoded_bytes = len(frame)
            self.received[room] += 1

    async def _read_stream(self, room: str) -> None:
        headers = {"Accept": "text/event-stream"}
        timeout = httpx.Timeout(10.0, read=None)
        async with self.http.stream(
            "GET", f"/rooms/{room}/events", headers=headers, timeout=timeout
        ) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    self.received[room] += 1


def rss_bytes(pid: int) -> int:
    """The server's resident set size now."""
    return int(psutil.Process(pid).memory_info().rss)


@asynccontextmanager
async def started(spec: TargetSpec) -> AsyncIterator[TargetProcess]:
    """The target with a history bound nothing reaches; stopped on exit."""
    server = TargetProcess(
        spec,
        extra_args=("--history-size", str(HISTORY_SIZE)),
        # An environment variable, so that servers without the age bound start too.
        spawn=Spawn(env={"TBENCH_HISTORY_MAX_AGE_S": repr(HISTORY_MAX_AGE_S)}),
    )
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


async def measure(spec: TargetSpec, args: argparse.Namespace) -> Retained:
    """Publish into rooms with every message kept; the slope of RSS per message retained."""
    async with AsyncExitStack() as stack:
        server = await stack.enter_async_context(started(spec))
        rooms = Rooms(spec, server.url, args.rooms, args.body_bytes)
        stack.push_async_callback(rooms.close)
        await rooms.open()
        await rooms.publish(WARMUP_MESSAGES)
        await asyncio.sleep(SETTLE_S)
        counts, samples = [0], [rss_bytes(server.pid)]
        while counts[-1] < args.messages:
            step = min(args.step, args.messages - counts[-1])
            await rooms.publish(step)
            await asyncio.sleep(SETTLE_S)
            counts.append(counts[-1] + step)
            samples.append(rss_bytes(server.pid))
        slope, _ = statistics.linear_regression(counts, samples)
        r = statistics.correlation(counts, samples) if len(set(samples)) > 1 else 0.0
        return Retained(
            spec.name,
            rooms.encoded_bytes,
            slope,
            r * r,
            samples[0] / 2**20,
            samples[-1] / 2**20,
            counts[-1],
        )


def report_line(result: Retained) -> str:
    """One row of the table."""
    ratio = result.bytes_per_message / result.encoded_bytes if result.encoded_bytes else 0.0
    return (
        f"{result.target:14} {result.encoded_bytes:8d} {result.bytes_per_message:10.0f} "
        f"{ratio:6.2f} {result.r_squared:6.3f} {result.rss_start_mib:8.1f} "
        f"{result.rss_end_mib:8.1f} {result.messages:9d}"
    )


async def run(targets: list[str], args: argparse.Namespace, out: Callable[[str], None]) -> None:
    """Measure each target in turn, printing its row as soon as it is known."""
    out(
        f"{'target':14} {'encoded':>8} {'B/message':>10} {'ratio':>6} {'r²':>6} "
        f"{'RSS0 MiB':>8} {'RSS1 MiB':>8} {'messages':>9}"
    )
    for name in targets:
        out(report_line(await measure(TARGETS[name], args)))


def main() -> None:
    """Parse the options, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default=",".join(TARGET_NAMES))
    parser.add_argument("--messages", type=int, default=30_000, help="measured, after warm-up")
    parser.add_argument("--step", type=int, default=5_000, help="messages between RSS samples")
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--body-bytes", type=int, default=256)
    args = parser.parse_args()
    targets = [name for name in args.targets.split(",") if name]
    unknown = [name for name in targets if name not in TARGET_NAMES]
    if unknown:
        parser.error(f"unknown target(s) {unknown}; choose from {', '.join(TARGET_NAMES)}")
    if args.messages < 2 * args.step:
        parser.error("--messages must be at least two --step: a slope needs three samples")
    print(__doc__.split("\n\n")[1].replace("\n", " "))
    asyncio.run(run(targets, args, print))


if __name__ == "__main__":
    main()
