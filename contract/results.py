"""The results contract (DESIGN §4): `run.json` and `summary.csv` of a run directory.

The runner writes these; analysis and reports read them. Bump SCHEMA_VERSION on any change
a reader could notice. Writes are atomic (temp file + os.replace).
"""

from __future__ import annotations

import csv
import enum
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

SCHEMA_VERSION = 1
RUN_FILE = "run.json"
SUMMARY_FILE = "summary.csv"
# Per target, in <run-id>/<target>/: what the load generator wrote.
LOADGEN_FILE = "loadgen.json"
STATUS_FILE = "status.json"  # live progress of a run still going
HISTOGRAM_DIR = "hdr"
SUMMARY_COLUMNS = ("run_id", "target", "family", "status", "metric", "step", "value")

# Flags: the run measured something, but it should not be trusted as is.
FLAG_LOADGEN_SATURATED = "loadgen_saturated"  # a load generator process used > 90 % of a core
FLAG_UNDER_DELIVERED = "delivered_below_expected"
FLAG_ERRORS = "errors"  # connect, publish or receive errors happened
FLAG_ENDED_EARLY = "ended_early"  # Locust stopped before the scenario's end (--run-time cap)
FLAG_FAULTS = "faults_injected"  # latencies and losses include injected faults (by design)
# Lambda durations on the machine's whole CPU, not memory/1,769 vCPU (--no-cpu-model, or no
# permission to set CPU quotas): not what AWS would bill
FLAG_DURATIONS_UNMODELLED = "lambda_durations_unmodelled"
LOADGEN_SATURATION_PERCENT = 90.0

# Metric names carry their unit; the catalogue says what each one is.
METRICS: dict[str, str] = {
    "users": "simulated users at the end of the run",
    "measured_s": "length of the measured window (s)",
    "published": "acknowledged publishes",
    "expected": "deliveries owed: messages published to each receiver's room while it was in",
    "delivered": "expected deliveries that arrived (distinct sender+seq per receiver)",
    "lost": "expected - delivered, after the drain period",
    "duplicated": "arrivals of a sender+seq the receiver already had",
    "out_of_order": "arrivals with a lower seq than one already seen from that sender",
    "unexpected": "distinct arrivals outside the expectation window (join/leave margins)",
    "delivered_per_s": "deliveries per second in the measured window",
    "requests": "HTTP requests, WebSocket upgrades and frames sent, in the measured window",
    "requests_per_delivered": "requests per delivered message (measured window)",
    "empty_polls": "polls answered with no message (measured window)",
    "bytes_sent": "bytes the clients sent, at the socket (measured window)",
    "bytes_received": "bytes the clients received, at the socket (measured window)",
    "bytes_per_delivered": "bytes both ways per delivered message (measured window)",
    "errors": "connect, publish and receive errors (whole run)",
    "reconnects": "receiver reconnections (whole run)",
    "clock_skew_samples": "latencies below zero (clocks not in step), recorded as 1 µs",
    "knee_users": "sweep: users at the last step whose p95 delivery met the SLO",
    "ended_early": "1 if Locust stopped before the scenario's end (its --run-time cap)",
    "server_cpu_s": "target server CPU seconds in the measured window",
    "server_cpu_s_per_1k_delivered": "server CPU seconds per 1,000 delivered messages",
    "server_cpu_percent_mean": "server CPU, mean over the measured window (% of one core)",
    "server_cpu_percent_max": "server CPU, highest sample (% of one core)",
    "server_rss_max_bytes": "server resident memory, highest sample",
    "server_rss_per_connection_bytes": "server RSS growth per open connection (peak)",
    "server_fds_max": "server open file descriptors, highest sample",
    "server_connections_max": "server established TCP connections, highest sample",
    "server_threads_max": "server threads, highest sample",
    "loadgen_cpu_percent_mean": "busiest load generator process, mean CPU (% of one core)",
    "loadgen_cpu_percent_max": "busiest load generator process, highest sample",
    "resource_samples": "resource samples taken",
}
_LATENCIES = {
    "delivery": "delivery latency from the actual send",
    # coordinated omission (as wrk2): a publisher behind its schedule shows here, not above
    "delivery_scheduled": "delivery latency from the intended (scheduled) send",
    "publish": "publish latency",
    "connect": "connect latency",
    "first_message": "first_message latency",
    "publish_lag": "publish_lag latency",
}
for _metric, _what in _LATENCIES.items():
    for _stat in ("mean", "p50", "p90", "p95", "p99", "p999", "max"):
        METRICS[f"{_metric}_{_stat}_ms"] = f"{_what}, {_stat} (ms, HDR histogram)"


class TargetStatus(enum.StrEnum):
    """How a target's part of the run ended."""

    OK = "ok"  # measured (see flags)
    FAILED = "failed"  # did not start, failed verification, or the load test broke
    INTERRUPTED = "interrupted"  # Ctrl-C / SIGTERM while it ran
    PENDING = "pending"  # not reached (yet)


class HostInfo(BaseModel):
    """The machine the run happened on."""

    hostname: str
    os: str
    cpu_model: str
    cpu_count_logical: int
    cpu_count_physical: int | None
    ram_bytes: int


class FaultOutcome(BaseModel):
    """One injected fault on one target: what clients lost, got twice or late, and recovery.

    Messages are attributed to the fault whose slot [window_start, window_end) they were
    sent in; reconnections to the fault if they began after it was injected, in its slot.
    """

    kind: str  # restart | drop | slow
    window_start: float  # epoch s
    window_end: float
    planned_at: float  # when the fault was scheduled (epoch s)
    injected_at: float | None = None  # None: not injected (see error)
    error: str | None = None
    server_down_s: float | None = None  # restart: from kill -9 until /healthz answered again
    dropped: int | None = None  # drop: subscriptions and held polls the server ended
    slow_clients: int | None = None  # slow: clients that stopped reading
    reconnects: int = 0  # receivers that lost their connection in the slot
    not_reconnected: int = 0  # ... and had not got it back by the end of the run
    reconnect_p50_ms: float | None = None  # connection lost -> subscription live again
    reconnect_max_ms: float | None = None
    recovered_s: float | None = None  # injection -> the last of those receivers is back
    expected: int = 0
    delivered: int = 0
    lost: int = 0
    # of `lost`: deliveries of messages no receiver got at all — the server never took them
    # (a WebSocket send into a connection as it broke: the protocol has no publish ack) or
    # failed them for everyone (e.g. a throttled Lambda invocation); resume cannot help there
    lost_everywhere: int = 0
    duplicated: int = 0
    late: int = 0  # delivered, but more than late_after_s after it was sent
    late_after_s: float = 0.0
    rss_before_bytes: int | None = None  # server RSS at the last sample before injection
    rss_peak_bytes: int | None = None  # highest server RSS sample in the slot after it
    # how long an outage cursor resume covers: history ring / messages per second per room
    # (None: this target cannot resume)
    resume_covers_s: float | None = None


# The FaultOutcome figures summary.csv carries (times and errors stay in run.json).
FAULT_SUMMARY_FIELDS = frozenset(
    {
        "server_down_s",
        "dropped",
        "slow_clients",
        "reconnects",
        "not_reconnected",
        "reconnect_p50_ms",
        "reconnect_max_ms",
        "recovered_s",
        "expected",
        "delivered",
        "lost",
        "lost_everywhere",
        "duplicated",
        "late",
        "rss_before_bytes",
        "rss_peak_bytes",
        "resume_covers_s",
    }
)


class TargetResult(BaseModel):
    """One target's outcome: status, error, flags and summary metrics (names in METRICS)."""

    target: str
    family: str
    url: str | None = None
    status: TargetStatus = TargetStatus.PENDING
    error: str | None = None
    flags: list[str] = Field(default_factory=list)
    started_at: str | None = None
    ended_at: str | None = None
    verification: dict[str, Any] | None = None
    # With `tbench run --replicas/--broker`: replicas, broker, balancer, versions, and each
    # component's resources (the `server_*` metrics then sum every component).
    deployment: dict[str, Any] | None = None
    metrics: dict[str, float | int | None] = Field(default_factory=dict)
    sweep: list[dict[str, Any]] = Field(default_factory=list)
    faults: list[FaultOutcome] = Field(default_factory=list)  # `tbench run --faults`
    # The lambda target: `tbench lambda tune` rows (memory_mb, duration_p50_ms, ...) measured
    # after the load, one invocation at a time: durations without contention
    lambda_tune: list[dict[str, Any]] = Field(default_factory=list)
    # `tbench run --network`: the profile, the mechanism that applied it, the RTT measured on
    # the path, TCP retransmissions and the relay's own cost (tbench/runner/netns.py)
    network: dict[str, Any] | None = None
    files: dict[str, str] = Field(default_factory=dict)  # relative to the run directory


class RunResult(BaseModel):
    """A run: its metadata and every target's result (`run.json`)."""

    schema_version: int = SCHEMA_VERSION
    run_id: str
    status: str = "running"  # running | complete | interrupted | failed
    git_commit: str | None = None
    git_dirty: bool | None = None
    started_at: str
    ended_at: str | None = None
    command: list[str] = Field(default_factory=list)
    host: HostInfo
    python: str
    packages: dict[str, str] = Field(default_factory=dict)
    scenario: dict[str, Any]
    load_generator: dict[str, Any] = Field(default_factory=dict)
    # What every target shared: broker, serializer, uvicorn settings, limits (for the report).
    held_equal: dict[str, Any] = Field(default_factory=dict)
    targets: dict[str, TargetResult] = Field(default_factory=dict)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write through a temporary file in the same directory, then os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON atomically (indented, non-JSON values as strings)."""
    write_bytes_atomic(path, json.dumps(data, indent=1, default=str).encode())


def summary_rows(run: RunResult) -> list[dict[str, Any]]:
    """One tidy row per (target, metric[, sweep step])."""
    rows: list[dict[str, Any]] = []
    for key, result in run.targets.items():
        base = {
            "run_id": run.run_id,
            "target": key,  # the target's name; `name@profile` under `tbench run --network`
            "family": result.family,
            "status": result.status.value,
        }
        for metric, value in result.metrics.items():
            rows.append({**base, "metric": metric, "step": "", "value": value})
        for fault in result.faults:  # fault_<kind>_<figure>, e.g. fault_drop_lost
            for key, value in fault.model_dump(include=set(FAULT_SUMMARY_FIELDS)).items():
                if value is not None:  # a figure that does not apply to this kind
                    metric = f"fault_{fault.kind}_{key}"
                    rows.append({**base, "metric": metric, "step": "", "value": value})
        for step in result.sweep:
            for key, value in step.items():
                if key != "step":
                    rows.append(
                        {**base, "metric": f"sweep_{key}", "step": step["step"], "value": value}
                    )
    return rows


def save_run(run_dir: Path, run: RunResult) -> None:
    """Write `run.json` and `summary.csv` atomically."""
    write_bytes_atomic(run_dir / RUN_FILE, run.model_dump_json(indent=1).encode())
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(summary_rows(run))
    write_bytes_atomic(run_dir / SUMMARY_FILE, text.getvalue().encode())


def load_run(path: Path) -> RunResult:
    """Read `run.json` (a run directory or the file itself)."""
    file = path / RUN_FILE if path.is_dir() else path
    return RunResult.model_validate_json(file.read_bytes())
