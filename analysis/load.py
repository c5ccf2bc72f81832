"""A run directory as tidy pandas frames: summary, latency histograms, resources, REPORT lines."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.palette import target_order
from contract.histograms import DELIVERY, decode_file
from contract.lambda_report import REPORT_LOG_FILE, read_invocations
from contract.results import HISTOGRAM_DIR, SUMMARY_FILE, RunResult, TargetStatus, load_run

RESOURCES_FILE = "resources.csv"  # the runner's resource samples, per target
LOCUST_STATS_FILE = "locust_stats.csv"
LOCUST_HISTORY_FILE = "locust_stats_history.csv"
DELIVER_REQUEST = "deliver"  # the Locust request name every user fires per delivered message


@dataclass(frozen=True)
class RunData:
    """Everything a report or notebook reads from one run directory."""

    path: Path
    run: RunResult
    summary: pd.DataFrame  # summary.csv as it is: one row per (target, metric, step)
    metrics: pd.DataFrame  # one row per target, one column per metric (whole-run values)
    sweep: pd.DataFrame  # one row per (target, sweep step)
    latency: pd.DataFrame  # delivery latency distribution: target, latency_ms, count, fraction
    latency_history: pd.DataFrame  # Locust's per-interval delivery percentiles
    resources: pd.DataFrame  # resources.csv of every target, with a target column
    locust_stats: pd.DataFrame  # locust_stats.csv of every target
    lambda_reports: pd.DataFrame  # one row per REPORT line

    @property
    def targets(self) -> list[str]:
        """Every target of the run, in registry order."""
        return target_order(self.run.targets)

    def metric(self, target: str, name: str) -> float:
        """One whole-run metric of a target; NaN when the run did not record it."""
        value = self.metrics.at[target, name] if name in self.metrics.columns else None
        return float(value) if isinstance(value, int | float | np.number) else math.nan

    @property
    def serverless(self) -> list[str]:
        """Targets that wrote Lambda REPORT lines: their server is the emulator, not a process
        whose CPU and memory a bill would follow."""
        names = set(self.lambda_reports["target"])
        return [t for t in self.targets if t in names]

    def on_aws(self, target: str) -> bool:
        """The target ran on a stack on AWS (`tbench aws run`), not on the local emulator."""
        deployment = self.run.targets[target].deployment
        return deployment is not None and deployment.cloud == "aws"

    def serverless_label(self, target: str) -> str:
        """What a serverless target's server cells say instead of a figure: who ran it."""
        return "AWS" if self.on_aws(target) else "emulator"

    @property
    def measured(self) -> list[str]:
        """Targets whose measurement completed (status ok), in registry order."""
        return [t for t in self.targets if self.run.targets[t].status is TargetStatus.OK]


def read_summary(run_dir: Path) -> pd.DataFrame:
    """summary.csv with numeric values and an empty step for whole-run rows."""
    frame = pd.read_csv(run_dir / SUMMARY_FILE, dtype={"step": "string"})
    frame["step"] = frame["step"].fillna("")
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
    return frame


def metrics_frame(summary: pd.DataFrame, run: RunResult) -> pd.DataFrame:
    """Whole-run metrics, one row per target (every target of the run, measured or not)."""
    whole = summary[summary["step"] == ""]
    wide = whole.pivot_table(index="target", columns="metric", values="value", aggfunc="first")
    wide = wide.reindex(target_order(run.targets))
    wide.columns.name = None
    wide.insert(0, "status", [run.targets[t].status.value for t in wide.index])
    wide.insert(1, "family", [run.targets[t].family for t in wide.index])
    return wide


def sweep_frame(run: RunResult) -> pd.DataFrame:
    """Sweep steps of every target (users, delivered/s, p50/p95/p99, passed); empty if none."""
    rows = [
        {"target": name, **step.model_dump()}
        for name in target_order(run.targets)
        for step in run.targets[name].sweep
    ]
    columns = ["target", "step", "rooms", "users", "delivered_per_s", "p50_ms", "p95_ms"]
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=[*columns, "p99_ms", "passed"])


def latency_distribution(
    run_dir: Path, targets: Iterable[str], name: str = DELIVERY
) -> pd.DataFrame:
    """The HDR histogram `name` of each target as (latency_ms, count, cumulative fraction)."""
    frames = []
    for target in targets:
        path = run_dir / target / HISTOGRAM_DIR / f"{name}.hdr"
        if not path.exists():
            continue
        histogram = decode_file(path)
        total = histogram.get_total_count()
        if not total:
            continue
        # The non-empty buckets, read from the counts array (the recorded iterator walks every
        # bucket in Python); each value is its bucket's highest equivalent, as HDR reports it.
        counts = np.ctypeslib.as_array(histogram.counts)
        values = [
            (histogram.get_highest_equivalent_value(histogram.get_value_from_index(i)), counts[i])
            for i in np.flatnonzero(counts)
        ]
        frame = pd.DataFrame(values, columns=["latency_us", "count"])
        frame["latency_ms"] = frame["latency_us"] / 1000.0
        frame["fraction"] = frame["count"].cumsum() / total
        frame.insert(0, "target", target)
        frames.append(frame.drop(columns="latency_us"))
    if not frames:
        return pd.DataFrame(columns=["target", "count", "latency_ms", "fraction"])
    return pd.concat(frames, ignore_index=True)


def _per_target_csv(run_dir: Path, targets: Iterable[str], file_name: str) -> pd.DataFrame:
    frames = []
    for target in targets:
        path = run_dir / target / file_name
        if path.exists() and path.stat().st_size:
            frame = pd.read_csv(path)
            frame.insert(0, "target", target)
            frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["target"])


def read_resources(run_dir: Path, targets: Iterable[str]) -> pd.DataFrame:
    """Every target's resource samples (server and load generator), with a target column."""
    return _per_target_csv(run_dir, targets, RESOURCES_FILE)


def read_locust_stats(run_dir: Path, targets: Iterable[str]) -> pd.DataFrame:
    """Locust's end-of-run statistics per request name, with a target column."""
    return _per_target_csv(run_dir, targets, LOCUST_STATS_FILE)


def read_latency_history(
    run_dir: Path, targets: Iterable[str], resources: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Delivery percentiles over time (Locust's history), in seconds since sampling began."""
    columns = ["target", "elapsed_s", "users", "p50_ms", "p95_ms", "p99_ms"]
    targets = list(targets)
    history = _per_target_csv(run_dir, targets, LOCUST_HISTORY_FILE)
    if history.empty:
        return pd.DataFrame(columns=columns)
    # Rows before the first delivery carry zeros, not latencies.
    history = history[(history["Name"] == DELIVER_REQUEST) & (history["Total Request Count"] > 0)]
    if resources is None:
        resources = read_resources(run_dir, targets)
    # Align with resources.csv's elapsed_s: both files stamp epoch seconds.
    starts = resources.groupby("target")["time"].min() if "time" in resources else pd.Series()
    frame = pd.DataFrame(
        {
            "target": history["target"],
            "elapsed_s": history["Timestamp"]
            - history["target"].map(starts).fillna(history["Timestamp"].min()),
            "users": history["User Count"],
            "p50_ms": pd.to_numeric(history["50%"], errors="coerce"),
            "p95_ms": pd.to_numeric(history["95%"], errors="coerce"),
            "p99_ms": pd.to_numeric(history["99%"], errors="coerce"),
        }
    )
    # Locust writes 0 for a window without deliveries: no latency, not a zero one.
    for column in ("p50_ms", "p95_ms", "p99_ms"):
        frame.loc[frame[column] <= 0, column] = math.nan
    return frame.reset_index(drop=True)


def read_lambda_reports(run_dir: Path, targets: Iterable[str]) -> pd.DataFrame:
    """REPORT lines (and the emulator's notes beside them) of every target that wrote some."""
    rows = []
    for target in targets:
        path = run_dir / target / REPORT_LOG_FILE
        if not path.exists():
            continue
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        for report, note, function in read_invocations(lines):
            rows.append(
                {
                    "target": target,
                    "request_id": report.request_id,
                    "function": function,
                    "duration_ms": report.duration_ms,
                    "billed_ms": report.billed_duration_ms,
                    "memory_mb": report.memory_size_mb,
                    "max_memory_mb": report.max_memory_used_mb,
                    "init_ms": report.init_duration_ms
                    if report.init_duration_ms is not None
                    else math.nan,
                    "cold_start": report.init_duration_ms is not None,
                    "status": report.status or "ok",
                    "queue_wait_ms": note.queue_wait_ms if note else math.nan,
                }
            )
    columns = [
        "target",
        "request_id",
        "function",
        "duration_ms",
        "billed_ms",
        "memory_mb",
        "max_memory_mb",
        "init_ms",
        "cold_start",
        "status",
        "queue_wait_ms",
    ]
    return pd.DataFrame(rows, columns=columns)


def load_run_dir(path: Path | str) -> RunData:
    """Read a run directory (run.json, summary.csv and every target's files) into frames."""
    run_dir = Path(path)
    run = load_run(run_dir)
    targets = target_order(run.targets)
    summary = read_summary(run_dir)
    resources = read_resources(run_dir, targets)
    return RunData(
        path=run_dir,
        run=run,
        summary=summary,
        metrics=metrics_frame(summary, run),
        sweep=sweep_frame(run),
        latency=latency_distribution(run_dir, targets),
        latency_history=read_latency_history(run_dir, targets, resources),
        resources=resources,
        locust_stats=read_locust_stats(run_dir, targets),
        lambda_reports=read_lambda_reports(run_dir, targets),
    )
