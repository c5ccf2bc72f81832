"""Server efficiency: each target against the leanest server of its transport (issue 16).

For each transport, the target and its reference server (benchmarks/reference_servers/) are
started alone, one after the other, and driven by the suite's own harness on the same sweep
(`tbench run --url URL --server-pid PID --no-verify`). The harness samples the server's CPU
time and counts deliveries over the same measured window (first step's start to the last
publish; steps 2.. spawn their users inside it, so most handshakes are in it too). Per pair it
prints CPU-ms per delivery, efficiency (reference ÷ target: 1.0 means the target costs no more
than the floor), p50/p99 delivery latency at the top step, lost, and the server's CPU over the
whole run (start to stop, idle included) for comparison.

    .venv/bin/python -m benchmarks.server_efficiency [--transports websocket,sse,...]
        [--repeat 2] [--scenario benchmarks/efficiency_sweep.toml] [--workers 0]

CPU time, not wall time, is what is compared, but a busy host still adds noise (cache,
frequency, scheduling): measure on a quiet machine, and repeat.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from contract.addresses import free_port, health_url
from contract.registry import TARGETS
from contract.results import load_run
from tbench.process import spawn_in_own_group, stop_group, wait_healthy

REPO = Path(__file__).resolve().parents[1]
REFERENCES = REPO / "benchmarks" / "reference_servers"
HOST = "127.0.0.1"
TRANSPORTS = ("websocket", "sse", "long-polling", "short-polling")
GOAL = 0.8  # efficiency every target is held to


@dataclass(frozen=True)
class Measurement:
    """One server driven through the sweep once."""

    cpu_ms_per_delivery: float  # server CPU (user + system) per delivery, measured window
    lost: int
    p50_ms: float | None
    p99_ms: float | None
    top_users: int
    run_cpu_s: float  # the server's CPU from healthy to the end of the run


def reference_argv(transport: str, port: int) -> list[str]:
    """The command that starts the reference server of `transport`."""
    if transport == "websocket":
        return [sys.executable, str(REFERENCES / "websocket.py"), "--port", str(port)]
    script = str(REFERENCES / "http_transports.py")
    return [sys.executable, script, "--transport", transport, "--port", str(port)]


@dataclass(frozen=True)
class ServerCommand:
    """How to start one server: its command line, and the port that command makes it use."""

    argv: list[str]
    port: int


@contextlib.contextmanager
def running(server: ServerCommand, log: Path) -> Iterator[psutil.Process]:
    """Start a server in its own process group; yield it once /healthz answers; stop it."""
    proc = spawn_in_own_group(server.argv, log)
    try:
        wait_healthy(health_url(HOST, server.port), 30.0, proc)
        yield psutil.Process(proc.pid)
    finally:
        stop_group(proc)


def cpu_s(process: psutil.Process) -> float:
    """User + system CPU seconds of the process so far (/proc/PID/stat)."""
    times = process.cpu_times()
    return float(times.user + times.system)


def drive(
    transport: str, launch: ServerCommand, work: Path, label: str, args: argparse.Namespace
) -> Measurement:
    """Start the server, run the sweep against it with `tbench run`, which samples its CPU."""
    url = TARGETS[transport].url(HOST, launch.port)
    with running(launch, work / f"{label}.log") as server:
        command = [
            *(sys.executable, "-m", "tbench.cli", "run", "--targets", transport),
            *("--url", url, "--server-pid", str(server.pid)),
            *("--no-verify", "--no-report", "--scenario", str(args.scenario)),
            *("--workers", str(args.workers), "--out", str(work), "--run-id", label),
        ]
        before = cpu_s(server)
        subprocess.run(command, cwd=REPO, check=False, stdout=subprocess.DEVNULL)
        run_cpu_s = cpu_s(server) - before
    result = load_run(work / label).targets[transport]
    per_1k = result.metrics.get("server_cpu_s_per_1k_delivered")
    if not result.sweep or not per_1k:
        raise RuntimeError(f"{label}: not measured ({result.error or result.status})")
    top = result.sweep[-1]
    return Measurement(
        cpu_ms_per_delivery=float(per_1k),  # s per 1,000 deliveries = ms per delivery
        run_cpu_s=run_cpu_s,
        lost=int(result.metrics.get("lost") or 0),
        p50_ms=top.p50_ms,
        p99_ms=top.p99_ms,
        top_users=top.users,
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def row(name: str, kind: str, m: Measurement) -> str:
    """One line of the table."""
    return (
        f"{name:14} {kind:9} {m.cpu_ms_per_delivery:10.4f} {m.top_users:6d} "
        f"{_ms(m.p50_ms):>7} {_ms(m.p99_ms):>7} {m.lost:6d} {m.run_cpu_s:9.2f}"
    )


def main() -> int:
    """Measure every pair, print the table; exit 1 if a pair is below GOAL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transports", default=",".join(TRANSPORTS))
    parser.add_argument("--repeat", type=int, default=1, help="alternating runs per server")
    parser.add_argument("--scenario", type=Path, default=REPO / "benchmarks/efficiency_sweep.toml")
    parser.add_argument("--workers", type=int, default=0, help="Locust worker processes")
    args = parser.parse_args()
    transports = [t for t in args.transports.split(",") if t]
    unknown = [t for t in transports if t not in TRANSPORTS]
    if unknown:
        parser.error(f"unknown transport(s) {unknown}; choose from {', '.join(TRANSPORTS)}")
    header = (
        f"{'transport':14} {'server':9} {'CPU-ms/dl':>10} {'users':>6} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'lost':>6} {'run CPU-s':>9}"
    )
    lines = [header]
    efficiencies: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="tbench-efficiency-") as tmp:
        work = Path(tmp)
        for transport in transports:
            runs: dict[str, list[Measurement]] = {"target": [], "reference": []}
            for attempt in range(args.repeat):
                for kind in ("target", "reference"):
                    port = free_port(HOST)
                    argv = (
                        TARGETS[transport].argv(HOST, port)
                        if kind == "target"
                        else reference_argv(transport, port)
                    )
                    label = f"{transport}-{kind}-{attempt + 1}"
                    measured = drive(transport, ServerCommand(argv, port), work, label, args)
                    runs[kind].append(measured)
                    lines.append(row(transport, kind, measured))
                    print(lines[-1], flush=True)
            target = statistics.median(m.cpu_ms_per_delivery for m in runs["target"])
            reference = statistics.median(m.cpu_ms_per_delivery for m in runs["reference"])
            efficiencies[transport] = reference / target
    print()
    print("\n".join(lines))
    print()
    for transport, efficiency in efficiencies.items():
        verdict = "ok" if efficiency >= GOAL else f"below {GOAL}"
        print(f"{transport:14} efficiency {efficiency:.2f} (reference ÷ target, median)  {verdict}")
    return 0 if all(e >= GOAL for e in efficiencies.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
