"""The Lambda emulator's own figures: cold-start init duration and warm invoke overhead.

Starts the `lambda` target with a REPORT log, then (1) connects one client at a time after
each environment was reclaimed, so every `$connect` is a lone cold start, and (2) sends
sequential messages in a two-member room, so `sendMessage` runs warm. Read from the REPORT
and EMULATOR lines: Init Duration of the cold starts, the emulator's Invoke Overhead (round
trip minus handler Duration) of the warm invocations, and delivery latency to the other member.

    .venv/bin/python benchmarks/lambda_emulator.py [--cold-starts 8] [--messages 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from websockets.sync.client import connect

from tbench.lambda_report import EmulatorRecord, LambdaReport
from tbench.process import TargetProcess
from tbench.registry import get_target

ENV_IDLE_S = 0.3  # environments are reclaimed quickly, so each lone $connect starts cold


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


def main() -> None:
    """Run both phases and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cold-starts", type=int, default=8)
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    log = Path(tempfile.mkdtemp(prefix="tbench-lambda-")) / "lambda-report.log"
    options = ("--report-log", str(log), "--env-idle-s", str(ENV_IDLE_S))
    latencies: list[float] = []
    with TargetProcess(get_target("lambda"), extra_args=options) as target:
        for i in range(args.cold_starts):
            time.sleep(ENV_IDLE_S * 5)
            with connect(f"{target.url}?room=cold-{i}"):
                pass
        room = f"{target.url}?room=warm"
        with connect(room) as sender, connect(room) as receiver:
            for seq in range(1, args.messages + 1):
                sent_at = time.time()
                frame = {"action": "sendMessage", "room": "warm", "sender": "s", "seq": seq}
                sender.send(json.dumps(frame | {"body": "x" * 100, "sent_at": sent_at}))
                receiver.recv(timeout=30)
                latencies.append((time.time() - sent_at) * 1000)
                sender.recv(timeout=30)
                time.sleep(0.1)  # the invocation ends after its posts: let it, stay warm
        time.sleep(1.0)
    lines = log.read_text().splitlines()
    reports = {r.request_id: r for r in map(LambdaReport.parse, lines) if r is not None}
    records = [r for r in map(EmulatorRecord.parse, lines) if r is not None]
    cold = [
        init
        for record in records
        if record.function == "ConnectFunction"
        and (init := reports[record.request_id].init_duration_ms) is not None
    ]
    warm = [r for r in records if reports[r.request_id].init_duration_ms is None]
    send = [r for r in warm if r.function == "SendMessageFunction"]
    print(summary("cold start Init Duration ($connect, one at a time)", cold))
    print(summary("warm invoke overhead (all functions)", [r.invoke_overhead_ms for r in warm]))
    print(summary("warm sendMessage Duration", [reports[r.request_id].duration_ms for r in send]))
    print(summary("delivery latency to the other member", latencies[5:]))
    print(f"REPORT log: {log}")


if __name__ == "__main__":
    main()
