"""What `make compose-test` asserts on a run the compose runner left in results/."""

from __future__ import annotations

import io
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from contract.loadgen import LoadgenResult
from contract.registry import TARGETS
from contract.results import LOADGEN_FILE, TargetResult, load_run

REPORTS = ("report.html", "report.pdf")
ERROR_CHARS = 3000  # of a failed target's error in the summary
PROBLEM_CHARS = 300  # of its first line in the list of problems
SUMMARY_WIDTH = 120  # CI logs: wide enough that no row wraps


@dataclass(frozen=True, slots=True)
class TargetLine:
    """One target's figures for the summary."""

    name: str
    status: str
    delivered: int | None
    lost: int | None
    processes: int | None  # Locust processes that reported: the master and every worker
    server_cpu_s: float | None
    containers: int
    error: str | None  # why the target failed, as run.json says


def _count(value: float | int | None) -> int | None:
    return None if value is None else int(value)


def target_line(run_dir: Path, name: str, result: TargetResult) -> TargetLine:
    """A target's outcome from run.json and its loadgen.json."""
    metrics = result.metrics
    loadgen_path = run_dir / name / LOADGEN_FILE
    loadgen = LoadgenResult.read(loadgen_path) if loadgen_path.is_file() else None
    server_cpu_s = metrics.get("server_cpu_s")
    deployment = result.deployment
    return TargetLine(
        name=name,
        status=result.status.value,
        delivered=_count(metrics.get("delivered")),
        lost=_count(metrics.get("lost")),
        processes=loadgen.processes if loadgen is not None else None,
        server_cpu_s=None if server_cpu_s is None else float(server_cpu_s),
        containers=len(deployment.containers or ()) if deployment is not None else 0,
        error=result.error,
    )


def target_lines(run_dir: Path) -> list[TargetLine]:
    """Every target of the run, in run.json's order."""
    run = load_run(run_dir)
    return [target_line(run_dir, name, result) for name, result in run.targets.items()]


def failures(
    run_dir: Path,
    workers: int,
    owner_uid: int,
    containers: Mapping[str, int],
    targets: Collection[str] = tuple(TARGETS),
) -> list[str]:
    """What is wrong with the run: each of `targets` ok with 0 lost, every worker joined, CPU
    sampled from each target's `containers`, the reports present and owned by `owner_uid`."""
    problems = []
    lines = {line.name: line for line in target_lines(run_dir)}
    if set(lines) != set(targets):
        problems.append(f"targets {sorted(lines)}, expected {sorted(targets)}")
    for line in lines.values():
        problems += line_problems(line, workers, containers.get(line.name, 1))
    for name in REPORTS:
        path = run_dir / name
        if not path.is_file():
            problems.append(f"{name} missing")
        elif path.stat().st_uid != owner_uid:
            problems.append(f"{name} owned by uid {path.stat().st_uid}, not {owner_uid}")
    return problems


def line_problems(line: TargetLine, workers: int, containers: int) -> list[str]:
    """What is wrong with one target: not ok, a loss, a missing worker, CPU not sampled from
    its `containers`."""
    if line.status != "ok":
        why = f": {line.error.splitlines()[0][:PROBLEM_CHARS]}" if line.error else ""
        return [f"{line.name}: status {line.status}{why}"]
    problems = []
    if line.lost != 0 or not line.delivered:
        problems.append(f"{line.name}: delivered {line.delivered}, lost {line.lost}")
    if line.processes != workers + 1:
        problems.append(
            f"{line.name}: {line.processes} Locust processes reported, expected the master "
            f"and {workers} workers"
        )
    if not line.server_cpu_s or line.server_cpu_s <= 0:
        problems.append(f"{line.name}: container CPU {line.server_cpu_s} s (not sampled)")
    if line.containers != containers:
        problems.append(f"{line.name}: {line.containers} containers sampled, not {containers}")
    return problems


def summary(run_dir: Path) -> str:
    """A table, one row a target: status, delivered/lost, Locust processes, containers, container
    CPU; then each failed target's error."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("target", no_wrap=True)
    table.add_column("status")
    for heading in ("delivered", "lost", "Locust processes", "containers", "CPU s"):
        table.add_column(heading, justify="right")
    errors = []
    for line in target_lines(run_dir):
        cpu = f"{line.server_cpu_s:.2f}" if line.server_cpu_s is not None else None
        figures = (line.delivered, line.lost, line.processes, line.containers, cpu)
        table.add_row(line.name, line.status, *("-" if f is None else str(f) for f in figures))
        if line.error:  # in full: CI shows this output and not the run directory
            errors += [f"  {line.name} error:"]
            errors += [f"      {text}" for text in line.error[:ERROR_CHARS].splitlines()]
    text = io.StringIO()
    Console(file=text, width=SUMMARY_WIDTH, color_system=None).print(table)
    rows = [f"  {row}".rstrip() for row in text.getvalue().splitlines()]
    return "\n".join(rows + errors)
