"""Harness overhead: the Locust WebSocket user vs a minimal asyncio `websockets` client.

Both drive the same websocket target with the same workload — 100 rooms × 10 users (1,000
connections), one publisher per room at 10 msg/s, so every client receives 10 msg/s and the
server fans out 10,000 deliveries/s — and measure delivery latency the same way (wall clock
at receipt − sent_at, into an HDR histogram) over the same measured window. The ratios say
what the harness costs: goal delivered rate >= 0.95× and p50 delivery <= 1.25× the minimal
client's.

    .venv/bin/python -m benchmarks.harness_overhead [--rooms 100] [--duration 15] [--repeat 1]
        [--concurrent]

Sequentially (the default) each client gets the whole workload, alternating when repeated.
On a host shared with other work, `--concurrent` runs both at once on half the rooms each,
against the same server at the same moment, so both see the very same conditions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from websockets.asyncio.client import ClientConnection, connect

from contract import codec
from contract.histograms import DELIVERY, LatencySet
from contract.loadgen import LiveStatus, LoadgenResult
from contract.messages import SEND_ACTION, Publish, padded_body
from contract.registry import get_target
from contract.results import LOADGEN_FILE, STATUS_FILE
from tbench.process import TargetProcess
from tbench.runner.locust_process import LocustPlan, LocustRun

USERS_PER_ROOM = 10
PUBLISH_RATE_PER_S = 10.0
PAYLOAD_BYTES = 64
SETTLE_S = 2.0
WARMUP_S = 5.0
DRAIN_S = 2.0
SPAWN_RATE = 500.0


# -- the minimal client ----------------------------------------------------------------------


async def _receive(
    connection: ClientConnection, latencies: LatencySet, window: list[float]
) -> None:
    start, end = window
    async for frame in connection:
        received_at = time.time()
        message = codec.loads(frame)
        sent_at = message["sent_at"]
        if start <= sent_at < end:
            latencies.record(DELIVERY, received_at - sent_at)


async def _publish(
    connection: ClientConnection, room: str, sender: str, publish_from: float, until: float
) -> None:
    interval_s = 1.0 / PUBLISH_RATE_PER_S
    body = padded_body(PAYLOAD_BYTES)
    next_at = publish_from + random.uniform(0, interval_s)
    seq = 0
    while next_at < until:
        await asyncio.sleep(max(0.0, next_at - time.time()))
        seq += 1
        frame = Publish(room, sender, seq, body, time.time()).to_json(action=SEND_ACTION)
        await connection.send(codec.dumps_str(frame))
        next_at += interval_s


async def locust_settling(status_path: Path) -> None:
    """Wait until the Locust run beside us has joined its users (concurrent mode)."""
    while True:
        status = await asyncio.to_thread(LiveStatus.read, status_path)
        if status is not None and status.phase not in ("spawning", "joining"):
            return
        await asyncio.sleep(0.1)


async def minimal_client(
    url: str, rooms: int, duration_s: float, align_with: Path | None = None
) -> dict[str, float | None]:
    """Run the workload with asyncio + websockets; return delivered/s and p50/p99 (ms)."""
    latencies = LatencySet()
    window = [0.0, 0.0]
    connections: list[tuple[str, int, ClientConnection]] = []
    limit = asyncio.Semaphore(50)

    async def join(room: str, position: int) -> None:
        """Open one member's connection."""
        async with limit:
            connection = await connect(
                f"{url}?room={room}", compression=None, max_queue=None, ping_interval=None
            )
        connections.append((room, position, connection))

    tag = f"min{random.randrange(10**6)}"
    await asyncio.gather(
        *(join(f"{tag}-{r}", p) for r in range(rooms) for p in range(USERS_PER_ROOM))
    )
    if align_with is not None:
        await locust_settling(align_with)
    cpu_before = time.process_time()
    publish_from = time.time() + SETTLE_S
    window[0] = publish_from + WARMUP_S
    window[1] = window[0] + duration_s
    receivers = [asyncio.create_task(_receive(c, latencies, window)) for _, _, c in connections]
    publishers = [
        _publish(c, room, f"{room}-pub", publish_from, window[1])
        for room, position, c in connections
        if position == 0
    ]
    await asyncio.gather(*publishers)
    cpu_s = time.process_time() - cpu_before
    publish_s = time.time() - publish_from
    await asyncio.sleep(DRAIN_S)
    for task in receivers:
        task.cancel()
    await asyncio.gather(*(c.close() for _, _, c in connections), return_exceptions=True)
    count = latencies.summary_ms(DELIVERY).count
    return {
        "delivered_per_s": count / duration_s,
        "p50_ms": latencies.percentile_ms(DELIVERY, 50),
        "p99_ms": latencies.percentile_ms(DELIVERY, 99),
        "client_cpu_percent": round(cpu_s / publish_s * 100, 1),
    }


# -- the Locust user ---------------------------------------------------------------------------


def start_locust(url: str, rooms: int, duration_s: float, workdir: Path) -> LocustRun:
    """Start the same workload with the Locust WebSocket user."""
    scenario = workdir / "harness.toml"
    scenario.write_text(
        f'description = "harness overhead"\nrooms = {rooms}\nusers_per_room = {USERS_PER_ROOM}\n'
        f"publisher_fraction = {1 / USERS_PER_ROOM}\npublish_rate_per_s = {PUBLISH_RATE_PER_S}\n"
        f"payload_bytes = {PAYLOAD_BYTES}\nspawn_rate = {SPAWN_RATE}\nsettle_s = {SETTLE_S}\n"
        f"warmup_s = {WARMUP_S}\nduration_s = {duration_s}\ndrain_s = {DRAIN_S}\n"
    )
    out = workdir / f"locust-{time.monotonic_ns()}"
    plan = LocustPlan(
        user_class="WebsocketUser",
        url=url,
        scenario_ref=str(scenario),
        users=rooms * USERS_PER_ROOM,
        spawn_rate=SPAWN_RATE,
        out_dir=out,
        run_tag=f"loc{random.randrange(10**6)}",
        run_time_s=rooms * USERS_PER_ROOM / SPAWN_RATE + SETTLE_S + WARMUP_S + duration_s + 60,
    )
    run = LocustRun(plan)
    run.start()
    return run


def finish_locust(run: LocustRun, duration_s: float) -> dict[str, float | None]:
    """Wait for the Locust run, sampling its CPU; read its loadgen.json."""
    cpu_samples: list[tuple[float, float]] = []  # (time, cpu seconds) of the Locust process
    try:
        process = psutil.Process(run.pids[0])
        while run.poll() is None:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                cpu_samples.append((time.time(), times.user + times.system))
            time.sleep(0.25)
    finally:
        run.stop()
    result = LoadgenResult.read(run.plan.out_dir / LOADGEN_FILE)
    latency = result.latency[DELIVERY]
    if result.timeline is None:
        raise RuntimeError("the Locust run never started publishing")
    publish_start = result.timeline.publish_start
    publish_end = result.timeline.publish_end or math.inf
    inside = [(t, c) for t, c in cpu_samples if publish_start <= t <= publish_end]
    cpu_percent = (
        (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0]) * 100
        if len(inside) >= 2
        else None
    )
    return {
        "delivered_per_s": latency.count / duration_s,
        "p50_ms": latency.p50_ms,
        "p99_ms": latency.p99_ms,
        "client_cpu_percent": round(cpu_percent, 1) if cpu_percent is not None else None,
        "lost": result.delivery.lost,
    }


def _finish_into(result: dict[str, float | None], run: LocustRun, duration_s: float) -> None:
    result.update(finish_locust(run, duration_s))


class ServerCpu:
    """The server's mean CPU (% of a core) and the host's load average over one phase."""

    def __init__(self, process: psutil.Process) -> None:
        self.process = process
        self.figures: dict[str, float | None] = {}

    def _cpu_s(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def __enter__(self) -> ServerCpu:
        self.started = time.monotonic()
        self.cpu_started = self._cpu_s()
        self.load_started = os.getloadavg()[0]
        return self

    def __exit__(self, *exc: object) -> None:
        elapsed = time.monotonic() - self.started
        self.figures = {
            "server_cpu_percent": round((self._cpu_s() - self.cpu_started) / elapsed * 100, 1),
            "host_load_1m": round(max(self.load_started, os.getloadavg()[0]), 2),
        }


def main() -> int:
    """Run both clients (alternating when repeated) and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per run")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--concurrent",
        action="store_true",
        help="run both clients at once with half the rooms each (fair on a busy host)",
    )
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float | None]]] = {"minimal": [], "locust": []}
    with (
        tempfile.TemporaryDirectory() as tmp,
        TargetProcess(get_target("websocket")).start() as server,
    ):
        print(
            f"target {server.url}: {args.rooms} rooms × {USERS_PER_ROOM} users, 1 publisher/room "
            f"at {PUBLISH_RATE_PER_S:g} msg/s, {args.duration:g} s measured"
            + (", both clients at once on half the rooms each" if args.concurrent else "")
        )
        server_process = psutil.Process(server.pid)
        for attempt in range(args.repeat):
            if args.concurrent:  # both at once, half the rooms each: the very same conditions
                rooms = args.rooms // 2
                with ServerCpu(server_process) as cpu:
                    run = start_locust(server.url, rooms, args.duration, Path(tmp))
                    located: dict[str, float | None] = {}
                    waiter = threading.Thread(
                        target=_finish_into, args=(located, run, args.duration)
                    )
                    waiter.start()
                    status = run.plan.out_dir / STATUS_FILE
                    minimal = asyncio.run(
                        minimal_client(server.url, rooms, args.duration, align_with=status)
                    )
                    waiter.join()
                minimal |= cpu.figures
                located |= cpu.figures
            else:
                with ServerCpu(server_process) as cpu:
                    minimal = asyncio.run(minimal_client(server.url, args.rooms, args.duration))
                minimal |= cpu.figures
                with ServerCpu(server_process) as cpu:
                    run = start_locust(server.url, args.rooms, args.duration, Path(tmp))
                    located = finish_locust(run, args.duration)
                located |= cpu.figures
            runs["minimal"].append(minimal)
            runs["locust"].append(located)
            print(f"  [{attempt + 1}] minimal asyncio websockets: {minimal}")
            print(f"  [{attempt + 1}] Locust WebSocket user:     {located}")

    def median(kind: str, key: str) -> float:
        """The median of one figure over the repeats."""
        return statistics.median(float(r[key] or 0.0) for r in runs[kind])

    rate_ratio = median("locust", "delivered_per_s") / median("minimal", "delivered_per_s")
    p50_ratio = median("locust", "p50_ms") / median("minimal", "p50_ms")
    p99_ratio = median("locust", "p99_ms") / median("minimal", "p99_ms")
    print(f"delivered rate  locust/minimal = {rate_ratio:.3f}  (goal >= 0.95)")
    print(f"p50 delivery    locust/minimal = {p50_ratio:.3f}  (goal <= 1.25)")
    print(f"p99 delivery    locust/minimal = {p99_ratio:.3f}")
    return 0 if rate_ratio >= 0.95 and p50_ratio <= 1.25 else 1


if __name__ == "__main__":
    sys.exit(main())
