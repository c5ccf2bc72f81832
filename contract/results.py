"""The results contract (docs/results.md): `run.json` and `summary.csv` of a run directory.

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
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
)

from contract.capacity import Capacity
from contract.network_profile import NetworkProfile
from contract.overload import OverloadOutcome
from contract.scenario import Scenario
from contract.soak import SoakResult

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
FLAG_SOAK_GREW = "soak_rss_grew"  # a soak's RSS grew past its limit after the warm-up
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
    "history_lost": 'resumes answered "history lost": the server no longer kept the gap',
    "clock_skew_samples": "latencies below zero (clocks not in step), recorded as 1 µs",
    "knee_users": "sweep: users at the last step whose p95 delivery met the SLO",
    "ended_early": "1 if Locust stopped before the scenario's end (its --run-time cap)",
    "server_cpu_s": "target server CPU seconds in the measured window",
    "server_cpu_s_per_1k_delivered": "server CPU seconds per 1,000 delivered messages",
    "server_cpu_percent_mean": "server CPU, mean over the measured window (% of one core)",
    "server_cpu_percent_max": "server CPU, highest sample (% of one core)",
    "server_rss_max_bytes": "server resident memory, highest sample",
    # grows with the run's length: the messages history retains are counted in it
    "server_rss_per_connection_bytes": "server RSS growth per open connection (peak, history in)",
    "server_rss_per_connection_net_bytes": (
        "server RSS per open connection, history's share taken off (docs/design.md, Memory figures)"
    ),
    "server_rss_per_retained_message_bytes": (
        "server RSS per message held in history: slope of RSS over messages retained"
    ),
    "server_retained_messages_max": "messages the server held in history, highest probe",
    "soak_rss_growth_percent": "soak: server RSS growth from after warm-up to the end (%)",
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


class Recorded(BaseModel):
    """A part whose producers record different fields: only the fields given are written.

    A run records what applies to it (a cluster's replicas, the emulator's CPU model) and an
    older run lacks what was added since, so reading and writing one keeps its shape.
    """

    @model_serializer(mode="wrap")
    def _only_given(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {key: value for key, value in data.items() if key in self.model_fields_set}


class Verification(BaseModel):
    """The conformance verdict on one target (`tbench verify` before it was measured)."""

    passed: bool
    counts: dict[str, int]  # per status: pass, warn, fail, skip
    failures: list[str] = Field(default_factory=list)
    duration_s: float = 0.0


class CpuModel(BaseModel):
    """The Lambda emulator's CPU model, as its /_stats says: quotas set or not, and why."""

    enabled: bool
    modelled: bool  # every environment really had memory / mb_per_vcpu vCPU
    mechanism: str | None = None  # e.g. cgroup v2 cpu.max
    period_us: int | None = None
    mb_per_vcpu: int | None = None
    reason: str | None = None  # why not modelled


class ComponentResources(Recorded):
    """One component of a cluster (a replica, Redis, nginx) over the measured window."""

    pid: int | None = None
    server_cpu_s: float | None = None
    server_cpu_percent_mean: float | None = None
    server_cpu_percent_max: float | None = None
    server_rss_max_bytes: int | None = None
    server_fds_max: int | None = None
    server_connections_max: int | None = None
    server_threads_max: int | None = None
    server_cpu_s_per_1k_delivered: float | None = None


class Deployment(Recorded):
    """How a target was deployed, where that is more than one local process (report order)."""

    # `tbench run --replicas/--broker`: replicas behind a balancer, sharing a broker
    replicas: int | None = None
    note: str | None = None  # why a target asked to replicate runs alone
    broker: str | None = None
    balancer: str | None = None
    versions: dict[str, str] | None = None  # the balancer's and the broker's
    components: dict[str, ComponentResources] | None = None
    # `tbench run --target-url --docker-stats`: the containers sampled as the server
    runtime: str | None = None
    containers: list[str] | None = None
    # the Lambda emulator
    cpu_model: CpuModel | None = None
    function_memory_mb: int | None = None
    tune_error: str | None = None  # the memory tune after the load failed
    # `tbench aws run`: a stack on AWS, its durations from CloudWatch Logs (contract/aws.py)
    cloud: Literal["aws"] | None = None
    region: str | None = None
    account_id: str | None = None  # the report masks it
    architecture: Literal["x86_64", "arm64"] | None = None  # what the functions ran on
    stage: str | None = None
    stack_name: str | None = None


class LambdaTuneRow(BaseModel):
    """One memory size of `tbench lambda tune`: its warm invocations' REPORT durations."""

    memory_mb: int
    invocations: int
    duration_p50_ms: float
    duration_p95_ms: float
    billed_duration_p50_ms: int  # AWS bills whole milliseconds
    cpu_modelled: bool  # the environments really had memory/1,769 vCPU
    unmodelled_reason: str | None = None  # why not, when they did not


class RttProbe(BaseModel):
    """TCP connect times over an emulated link, from the client's namespace (ms)."""

    rtt_p50_ms: float
    rtt_min_ms: float
    rtt_max_ms: float
    rtt_samples: int


class Retransmissions(BaseModel):
    """Segments TCP retransmitted in each namespace of an emulated link."""

    server_retrans_segs: int
    client_retrans_segs: int


class RelayCounters(BaseModel):
    """What the delay relay (tbench/runner/tun_relay.py) forwarded and spent, as it prints it."""

    packets_down: int
    packets_up: int
    bytes_down: int
    bytes_up: int
    write_errors: int
    cpu_s: float
    wall_s: float


class NetworkRecord(Recorded):
    """`tbench run --network`: the profile, how it was applied, and what the path measured."""

    profile: NetworkProfile
    mechanism: str
    server_namespace: str | None = None
    client_namespace: str | None = None
    server_address: str | None = None
    rtt_p50_ms: float | None = None
    rtt_min_ms: float | None = None
    rtt_max_ms: float | None = None
    rtt_samples: int | None = None
    server_retrans_segs: int | None = None
    client_retrans_segs: int | None = None
    relay_packets_down: int | None = None
    relay_packets_up: int | None = None
    relay_bytes_down: int | None = None
    relay_bytes_up: int | None = None
    relay_write_errors: int | None = None
    relay_cpu_s: float | None = None
    relay_wall_s: float | None = None
    # near 100 % the relay, not the profile, sets the latency
    relay_cpu_percent: float | None = None
    relay_cpu_us_per_delivered: float | None = None

    def with_rtt(self, probe: RttProbe) -> NetworkRecord:
        """This record with the path's measured round trips."""
        return self.model_copy(update=probe.model_dump())

    def with_retransmissions(self, counts: Retransmissions) -> NetworkRecord:
        """This record with the TCP retransmissions of both namespaces."""
        return self.model_copy(update=counts.model_dump())

    def with_relay(self, counters: RelayCounters, delivered: float | int | None) -> NetworkRecord:
        """This record with the relay's packets and CPU, and its CPU per delivered message."""
        update: dict[str, Any] = {
            f"relay_{name}": value for name, value in counters.model_dump().items()
        }
        if counters.wall_s:
            update["relay_cpu_percent"] = counters.cpu_s * 100 / counters.wall_s
        if delivered:
            update["relay_cpu_us_per_delivered"] = counters.cpu_s * 1e6 / delivered
        return self.model_copy(update=update)

    @property
    def retransmits(self) -> int:
        """Segments retransmitted on both ends of the path."""
        return (self.server_retrans_segs or 0) + (self.client_retrans_segs or 0)

    @property
    def relay_packets(self) -> int:
        """Packets the relay forwarded both ways (0 without a relay)."""
        return (self.relay_packets_down or 0) + (self.relay_packets_up or 0)


class SweepStep(Recorded):
    """One step of a sweep (`[sweep]` in the scenario): its load and its latencies."""

    step: int
    rooms: int
    users: int
    delivered_per_s: float
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    # from the intended send time: a publisher's stall shows here only
    scheduled_p50_ms: float | None = None
    scheduled_p99_ms: float | None = None
    passed: bool
    # a capacity ramp (`complete`, `slo_p99_ms`) also records these
    start: float | None = None  # the step's measured window, epoch seconds
    end: float | None = None
    offered_per_s: float | None = None  # deliveries a second the schedule asked for
    failures: int | None = None  # requests that failed during the step
    why_not: str | None = None  # what the step missed, when it did
    latency_floor_ms: float | None = None  # the transport's own p99, over which the SLO counts


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
    verification: Verification | None = None
    # With `tbench run --replicas/--broker`: replicas, broker, balancer, versions, and each
    # component's resources (the `server_*` metrics then sum every component).
    deployment: Deployment | None = None
    metrics: dict[str, float | int | None] = Field(default_factory=dict)
    sweep: list[SweepStep] = Field(default_factory=list)
    capacity: Capacity | None = None  # a capacity ramp's reading (`[sweep] cpu_quota_vcpu`)
    soak: SoakResult | None = None  # a soak's RSS line (`[soak]` in the scenario)
    overload: OverloadOutcome | None = None  # past the knee and back (`[overload]`)
    faults: list[FaultOutcome] = Field(default_factory=list)  # `tbench run --faults`
    # The lambda target: `tbench lambda tune` rows measured after the load, one invocation
    # at a time: durations without contention
    lambda_tune: list[LambdaTuneRow] = Field(default_factory=list)
    # `tbench run --network`: the profile, the mechanism that applied it, the RTT measured on
    # the path, TCP retransmissions and the relay's own cost (tbench/runner/netns.py)
    network: NetworkRecord | None = None
    files: dict[str, str] = Field(default_factory=dict)  # relative to the run directory


class LoadGenerator(BaseModel):
    """How Locust ran: in this process, or a master with local and remote workers."""

    workers: int = 0
    remote_workers: int = 0
    mode: str = "local"  # local | distributed


Setting = int | float | str | bool | None  # JSON scalars; a protocol class by its name


class Limits(Recorded):
    """The servers' limits every target shared (servers/settings.py)."""

    history_size: int | None = None
    history_max_age_s: float | None = None
    queue_size: int | None = None
    long_poll_max_wait_s: float | None = None
    sse_ping_s: float | None = None
    max_message_bytes: int | None = None
    max_connections: int | None = None
    request_timeout_s: float | None = None


class HeldEqual(Recorded):
    """What every target shared: broker, serializer, uvicorn settings, limits (for the report)."""

    broker: str | None = None
    serializer: str | None = None
    uvicorn: dict[str, Setting] = Field(default_factory=dict)
    gc_thresholds: list[int] | None = None  # CPython's, set alike in every target's server
    limits: Limits = Field(default_factory=Limits)
    lambda_emulator_uvicorn_differs: dict[str, Setting] = Field(default_factory=dict)


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
    # Validated by today's rules: a change to Scenario that a recorded run would fail needs a
    # schema_version bump and a reader for the older runs.
    scenario: Scenario
    load_generator: LoadGenerator = Field(default_factory=LoadGenerator)
    # None: the run did not record it
    held_equal: HeldEqual | None = None
    targets: dict[str, TargetResult] = Field(default_factory=dict)

    @field_validator("held_equal", mode="before")
    @classmethod
    def _nothing_recorded(cls, value: object) -> object:
        return None if value == {} else value  # how a run without it wrote it


class RunFileError(ValueError):
    """A run.json that cannot be read: one line naming the file and what is wrong."""


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


def write_model_atomic(path: Path, model: BaseModel) -> None:
    """Write a model as indented JSON, atomically."""
    write_bytes_atomic(path, model.model_dump_json(indent=1).encode())


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
            for key, value in step.model_dump(exclude={"step"}).items():
                rows.append({**base, "metric": f"sweep_{key}", "step": step.step, "value": value})
    return rows


def save_run(run_dir: Path, run: RunResult) -> None:
    """Write `run.json` and `summary.csv` atomically."""
    write_model_atomic(run_dir / RUN_FILE, run)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(summary_rows(run))
    write_bytes_atomic(run_dir / SUMMARY_FILE, text.getvalue().encode())


def load_run(path: Path) -> RunResult:
    """Read `run.json` (a run directory or the file itself); RunFileError says what is wrong."""
    file = path / RUN_FILE if path.is_dir() else path
    try:
        data = json.loads(file.read_bytes())
    except ValueError as exc:  # not JSON, not UTF-8: a truncated or a foreign file
        raise RunFileError(f"{file}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise RunFileError(f"{file}: not a run.json (a JSON {type(data).__name__}, not an object)")
    version = data.get("schema_version")
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise RunFileError(
            f"{file}: schema_version {version} is newer than this tbench supports "
            f"({SCHEMA_VERSION}): read it with the tbench that wrote it, or a newer one"
        )
    try:
        return RunResult.model_validate(data)
    except ValidationError as exc:
        why = validation_problem(exc)
        raise RunFileError(
            f"{file}: not a run.json of schema_version {SCHEMA_VERSION}: {why}"
        ) from None


def validation_problem(exc: ValidationError) -> str:
    """The first problem of a validation error, with the field's path, and how many more."""
    errors = exc.errors()
    first = errors[0]
    field = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    where = f"field {field!r}: " if field else ""
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}{message}{more}"
