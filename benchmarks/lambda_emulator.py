"""The Lambda emulator's own figures: cold starts, warm invoke overhead, CPU per sendMessage.

Starts the `lambda` target with a REPORT log, then (1) connects one client at a time after
each environment was reclaimed, so every `$connect` is a lone cold start, and (2) sends
sequential messages in a two-member room, so `sendMessage` runs warm. Read from the REPORT
and EMULATOR lines: Init Duration of the cold starts, the emulator's Invoke Overhead (round
trip minus handler Duration) of the warm invocations, and delivery latency to the other member.

(3) On a fresh emulator: a room of `--members` connections (and `--bystanders` connections in
other rooms, so the connections table is as full as in the chat scenario), then
`--cpu-messages` sequential `sendMessage`s, each awaited until every member has it. psutil's
CPU times of each process of the emulator's tree, before and after, split into what AWS runs
as managed services (the gateway, the DynamoDB stand-in: the emulator's own CPU) and what the
function runs (the worker processes: billed on AWS), per sendMessage.

    .venv/bin/python -m benchmarks.lambda_emulator [--cold-starts 8] [--messages 200]
        [--members 10] [--bystanders 490] [--cpu-messages 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import psutil
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as connect_async
from websockets.sync.client import connect

from contract.lambda_report import EmulatorRecord, LambdaReport
from contract.registry import get_target
from tbench.process import TargetProcess

ENV_IDLE_S = 0.3  # environments are reclaimed quickly, so each lone $connect starts cold
WORKER_MODULE = "servers.lambda_ws.runtime"  # a Lambda execution environment's process
CONNECT_BATCH = 50  # bystanders connected at once (under the 500/s new-connection quota)


def quantile(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(name: str, values: list[float]) -> str:
    """`name: n, median, p90, p99, max` in ms."""
    return (
        f"{name}: n={len(values)} median {statistics.median(values):.2f} ms, "
        f"p90 {quantile(values, 0.9):.2f}, p99 {quantile(values, 0.99):.2f}, "
        f"max {max(values):.2f}"
    )


def read_log(log: Path) -> tuple[dict[str, LambdaReport], list[EmulatorRecord]]:
    """The REPORT lines by request id, and the EMULATOR lines, of a report log."""
    lines = log.read_text().splitlines()
    reports = {r.request_id: r for r in map(LambdaReport.parse, lines) if r is not None}
    records = [r for r in map(EmulatorRecord.parse, lines) if r is not None]
    return reports, records


def latency_phases(cold_starts: int, messages: int) -> None:
    """Phases 1 and 2: lone cold starts, then warm sequential messages in a two-member room."""
    log = Path(tempfile.mkdtemp(prefix="tbench-lambda-")) / "lambda-report.log"
    options = ("--report-log", str(log), "--env-idle-s", str(ENV_IDLE_S))
    latencies: list[float] = []
    with TargetProcess(get_target("lambda"), extra_args=options) as target:
        for i in range(cold_starts):
            time.sleep(ENV_IDLE_S * 5)
            with connect(f"{target.url}?room=cold-{i}"):
                pass
        room = f"{target.url}?room=warm"
        with connect(room) as sender, connect(room) as receiver:
            for seq in range(1, messages + 1):
                sent_at = time.time()
                frame = {"action": "sendMessage", "room": "warm", "sender": "s", "seq": seq}
                sender.send(json.dumps(frame | {"body": "x" * 100, "sent_at": sent_at}))
                receiver.recv(timeout=30)
                latencies.append((time.time() - sent_at) * 1000)
                sender.recv(timeout=30)
                time.sleep(0.1)  # the invocation ends after its posts: let it, stay warm
        time.sleep(1.0)
    reports, records = read_log(log)
    cold = [
        init
        for record in records
        if record.function == "ConnectFunction"
        and (init := reports[record.request_id].init_duration_ms) is not None
    ]
    warm = [r for r in records if reports[r.request_id].init_duration_ms is None]
    send = [r for r in warm if r.function == "SendMessageFunction"]
    if cold:
        print(summary("cold start Init Duration ($connect, one at a time)", cold))
    if warm:
        print(summary("warm invoke overhead (all functions)", [r.invoke_overhead_ms for r in warm]))
    if send:
        durations = [reports[r.request_id].duration_ms for r in send]
        print(summary("warm sendMessage Duration", durations))
    if latencies[5:]:
        print(summary("delivery latency to the other member", latencies[5:]))
    print(f"REPORT log: {log}")


def process_role(process: psutil.Process, root_pid: int) -> str:
    """`handler` for a worker process, else a short name for the emulator's part it is."""
    cmdline = process.cmdline()
    if WORKER_MODULE in cmdline:
        return "handler"
    if process.pid == root_pid:
        return "emulator: gateway"
    return "emulator: " + (" ".join(Path(arg).name for arg in cmdline[:3]) or "(exiting)")


def cpu_by_process(root_pid: int) -> dict[int, tuple[str, float]]:
    """Each process of the tree: its role and CPU seconds (user + system) so far."""
    root = psutil.Process(root_pid)
    found: dict[int, tuple[str, float]] = {}
    for process in [root, *root.children(recursive=True)]:
        try:
            with process.oneshot():
                times = process.cpu_times()
                found[process.pid] = (process_role(process, root_pid), times.user + times.system)
        except psutil.Error:
            continue
    return found


def cpu_spent(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
) -> dict[str, float]:
    """CPU seconds each role spent between two snapshots (a process new since counts in full)."""
    spent: dict[str, float] = defaultdict(float)
    for pid, (role, cpu_s) in after.items():
        # An exiting process's command line reads empty: the role seen first counts.
        first_role, first_cpu_s = before.get(pid, (role, 0.0))
        spent[first_role] += cpu_s - first_cpu_s
    return dict(spent)


async def open_clients(url: str, rooms: Iterable[str]) -> list[ClientConnection]:
    """A connection per room name, CONNECT_BATCH at a time."""
    names = list(rooms)
    clients: list[ClientConnection] = []
    for start in range(0, len(names), CONNECT_BATCH):
        batch = names[start : start + CONNECT_BATCH]
        clients += await asyncio.gather(
            *(connect_async(f"{url}?room={room}", max_size=None) for room in batch)
        )
        await asyncio.sleep(0.15)  # stay under the new-connection rate
    return clients


async def send_and_collect(
    members: list[ClientConnection], count: int, first_seq: int
) -> list[float]:
    """Send `count` messages one after another from the first member; each member's latency."""
    latencies: list[float] = []
    for seq in range(first_seq, first_seq + count):
        sent_at = time.time()
        frame = {"action": "sendMessage", "room": "cpu", "sender": "s", "seq": seq}
        await members[0].send(json.dumps(frame | {"body": "x" * 100, "sent_at": sent_at}))
        for member in members:
            delivered = json.loads(await asyncio.wait_for(member.recv(), 30))
            if delivered.get("seq") != seq:
                raise RuntimeError(f"expected seq {seq}, got {delivered}")
            latencies.append((time.time() - sent_at) * 1000)
    return latencies


async def cpu_phase_clients(
    url: str, root_pid: int, members: int, bystanders: int, messages: int
) -> tuple[dict[str, float], list[float]]:
    """Connect, warm up, then measure the CPU of `messages` sequential sendMessages."""
    others = await open_clients(url, (f"other-{i % 49}" for i in range(bystanders)))
    room = await open_clients(url, ["cpu"] * members)
    try:
        await send_and_collect(room, 20, 1)  # warm: environments started, pools filled
        await asyncio.sleep(0.5)
        before = cpu_by_process(root_pid)
        latencies = await send_and_collect(room, messages, 21)
        await asyncio.sleep(0.2)  # the last invocation ends after its posts
        after = cpu_by_process(root_pid)
    finally:
        await asyncio.gather(*(client.close() for client in room + others))
    return cpu_spent(before, after), latencies


def cpu_phase(members: int, bystanders: int, messages: int) -> None:
    """Phase 3: emulator CPU and handler CPU per sendMessage to a room of `members`."""
    log = Path(tempfile.mkdtemp(prefix="tbench-lambda-")) / "lambda-report.log"
    with TargetProcess(get_target("lambda"), extra_args=("--report-log", str(log))) as target:
        spent, latencies = asyncio.run(
            cpu_phase_clients(target.url, target.pid, members, bystanders, messages)
        )
    reports, records = read_log(log)
    sends = [r for r in records if r.function == "SendMessageFunction"]
    durations = [reports[r.request_id].duration_ms for r in sends[-messages:]]
    emulator_s = sum(cpu_s for role, cpu_s in spent.items() if role != "handler")
    print(
        f"CPU per sendMessage to {members} members ({bystanders} bystander connections, "
        f"{messages} sequential messages):"
    )
    for role, cpu_s in sorted(spent.items()):
        print(f"  {role}: {cpu_s / messages * 1000:.2f} ms")
    print(f"  emulator total (gateway + DynamoDB stand-in): {emulator_s / messages * 1000:.2f} ms")
    print(f"  handler (worker processes): {spent.get('handler', 0.0) / messages * 1000:.2f} ms")
    if durations:
        print(summary("  sendMessage Duration", durations))
    print(summary("  delivery latency, every member", latencies))


def main() -> None:
    """Run the phases and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cold-starts", type=int, default=8)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--bystanders", type=int, default=490)
    parser.add_argument("--cpu-messages", type=int, default=300)
    args = parser.parse_args()
    if min(args.cold_starts, args.messages, args.bystanders, args.cpu_messages) < 0:
        parser.error("counts must be >= 0")
    if args.members < 1:
        parser.error("--members must be >= 1")
    if args.cold_starts or args.messages:
        latency_phases(args.cold_starts, args.messages)
    if args.cpu_messages:
        cpu_phase(args.members, args.bystanders, args.cpu_messages)


if __name__ == "__main__":
    main()
