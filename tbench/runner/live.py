"""The live display of `tbench run`: target, phase, users, msgs/s, p50/p99 (rich)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from contract.loadgen import LiveStatus
from contract.results import RunResult, TargetStatus


def _ms(value: float | int | None) -> str:
    return "-" if value is None else f"{value:.1f}"


class LiveDisplay:
    """A table with one row per target; in a terminal it redraws, elsewhere it prints changes."""

    def __init__(self, console: Console, targets: list[str]) -> None:
        self.console = console
        self.rows: dict[str, dict[str, Any]] = {name: {"phase": "pending"} for name in targets}
        self.started_at = time.monotonic()
        self._live: Live | None = None
        self._last_printed: dict[str, str] = {}

    def __enter__(self) -> LiveDisplay:
        if self.console.is_terminal:
            self._live = Live(self._table(), console=self.console, refresh_per_second=2)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.__exit__(None, None, None)
            self._live = None

    def update(self, target: str, **fields: Any) -> None:
        """Change a target's row (phase, users, deliver_per_s, p50_ms, p99_ms, note)."""
        row = self.rows[target]
        row.update(fields)
        if self._live is not None:
            self._live.update(self._table())
            return
        phase = str(row.get("phase"))
        if self._last_printed.get(target) != phase:  # not a terminal: one line per phase
            self._last_printed[target] = phase
            note = f"  {row['note']}" if row.get("note") else ""
            self.console.print(f"{target}: {phase}{note}", highlight=False)

    def follow_status(self, target: str, status: LiveStatus | None) -> None:
        """Copy the Locust conductor's status (None: none yet) into the target's row."""
        if status is None:
            return
        self.update(
            target,
            phase=status.phase,
            users=status.users,
            deliver_per_s=status.deliver_per_s,
            p50_ms=status.p50_ms,
            p99_ms=status.p99_ms,
        )

    def _table(self) -> Table:
        elapsed = time.monotonic() - self.started_at
        table = Table(title=f"tbench run  ({elapsed:.0f} s)", title_justify="left")
        for column in ("target", "phase", "users", "msgs/s", "p50 ms", "p99 ms", "note"):
            table.add_column(
                column, justify="left" if column in ("target", "phase", "note") else "right"
            )
        for name, row in self.rows.items():
            rate = row.get("deliver_per_s")
            table.add_row(
                name,
                str(row.get("phase", "")),
                str(row.get("users") if row.get("users") is not None else "-"),
                "-" if rate is None else f"{rate:.0f}",
                _ms(row.get("p50_ms")),
                _ms(row.get("p99_ms")),
                str(row.get("note", "")),
            )
        return table


def print_outcome(console: Console, run: RunResult, run_dir: Path) -> int:
    """Print one row per target, then errors and flags; return how many targets failed."""
    table = Table(title=f"run {run.run_id}: {run.scenario.name}", title_justify="left")
    for column in ("target", "status", "delivered", "expected", "lost", "dup", "p50 ms", "p99 ms"):
        table.add_column(column, justify="left" if column in ("target", "status") else "right")
    notes: list[str] = []
    failed = 0
    for key, result in run.targets.items():
        metrics = result.metrics
        if result.status is not TargetStatus.OK:
            failed += 1
        table.add_row(
            key,  # the target, or target@profile under --network
            result.status.value,
            str(metrics.get("delivered", "-")),
            str(metrics.get("expected", "-")),
            str(metrics.get("lost", "-")),
            str(metrics.get("duplicated", "-")),
            _ms(metrics.get("delivery_p50_ms")),
            _ms(metrics.get("delivery_p99_ms")),
        )
        if result.error:
            notes.append(f"{key}: {result.error.splitlines()[0][:300]}")
        elif result.flags:
            notes.append(f"{key}: flagged {', '.join(result.flags)}")
    console.print(table)
    if any(result.faults for result in run.targets.values()):
        console.print(faults_table(run))
    if any(result.network for result in run.targets.values()):
        console.print(network_table(run))
    for note in notes:
        console.print(note, highlight=False)
    failed += print_soaks(console, run)
    console.print(f"results: {run_dir}/run.json, summary.csv", highlight=False)
    return failed


def print_soaks(console: Console, run: RunResult) -> int:
    """A soak's verdict per target (a scenario with `[soak]`); how many failed it, a target
    that ran a soak without samples to judge included."""
    if run.scenario.soak is None:
        return 0
    failed = 0
    for key, result in run.targets.items():
        if result.status is not TargetStatus.OK:
            continue  # already counted failed
        if result.soak is None:
            failed += 1
            console.print(f"[red]soak FAILED: {key}: no server RSS samples to judge[/]")
        elif not result.soak.passed:
            failed += 1
            console.print(f"[red]{result.soak.verdict(key)}[/]", highlight=False)
        else:
            console.print(result.soak.verdict(key), highlight=False)
    return failed


def faults_table(run: RunResult) -> Table:
    """Delivery under faults: one row per target and fault (`tbench run --faults`)."""
    table = Table(title="delivery under faults", title_justify="left")
    columns = ("target", "fault", "reconnects", "back p50/max ms", "expected", "lost")
    for column in (*columns, "(by all)", "dup", "late", "server RSS MB"):
        table.add_column(column, justify="left" if column in ("target", "fault") else "right")
    for result in run.targets.values():
        for fault in result.faults:
            if fault.error:
                table.add_row(result.target, fault.kind, f"[red]{fault.error[:60]}[/]")
                continue
            rss = "-"
            if fault.rss_before_bytes is not None and fault.rss_peak_bytes is not None:
                rss = f"{fault.rss_before_bytes / 1e6:.0f} → {fault.rss_peak_bytes / 1e6:.0f}"
            table.add_row(
                result.target,
                fault.kind,
                str(fault.reconnects),
                f"{_ms(fault.reconnect_p50_ms)} / {_ms(fault.reconnect_max_ms)}",
                str(fault.expected),
                str(fault.lost),
                str(fault.lost_everywhere),
                str(fault.duplicated),
                str(fault.late),
                rss,
            )
    return table


def network_table(run: RunResult) -> Table:
    """The emulated links (`tbench run --network`): RTT asked and measured, the relay's cost."""
    table = Table(title="network profiles", title_justify="left")
    columns = ("target@profile", "mechanism", "RTT ms", "measured p50", "loss", "retransmits")
    for column in (*columns, "relay CPU µs/delivered", "relay CPU µs/packet"):
        table.add_column(column, justify="left" if column in columns[:2] else "right")
    for key, result in run.targets.items():
        network = result.network
        if network is None:
            continue
        packets = network.relay_packets
        cpu_s = network.relay_cpu_s
        per_packet = cpu_s * 1e6 / packets if packets and cpu_s is not None else None
        table.add_row(
            key,
            network.mechanism,
            f"{network.profile.rtt_ms:g}",
            _ms(network.rtt_p50_ms),
            f"{network.profile.loss * 100:g} %",
            str(network.retransmits),
            _ms(network.relay_cpu_us_per_delivered),
            _ms(per_packet),
        )
    return table
