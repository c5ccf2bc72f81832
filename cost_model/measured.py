"""Price a measured run: what each target would cost a month at a given load, per message.

The Lambda target is priced from its `REPORT` lines (billed milliseconds per function, memory,
cold starts' INIT by `cost_model.init_phase`'s rule) through the serverless chat model
(`cost_model.chat`: API Gateway messages and connection-minutes, Lambda, DynamoDB); the
container targets from their measured CPU-seconds per 1,000 delivered messages and RSS per
connection, sized into Fargate tasks (`cost_model.containers.tasks_for_load`). The crossover is
the delivered-message rate above which the serverless bill passes a container target's.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Literal

from contract.lambda_report import (
    REPORT_LOG_FILE,
    LambdaReport,
    read_invocations,
)
from contract.results import (
    Limits,
    RunFileError,
    RunResult,
    TargetResult,
    TargetStatus,
    load_run,
)
from cost_model.chat import ChatBill, ChatWorkload, InitPerUse, chat_bill
from cost_model.containers import (
    FargateBill,
    ServerLoad,
    TaskSizing,
    fargate_bill,
    hours_in_month,
    tasks_for_load,
)
from cost_model.duration_source import duration_source
from cost_model.history_memory import HistoryBound
from cost_model.init_phase import InitBilling, init_billed_ms, invoke_billed_ms
from cost_model.lambda_cost import seconds_in_month
from cost_model.pricing import Architecture, Pricing
from cost_model.units import MILLION

BYTES_PER_MB = Decimal(1024 * 1024)
HOURS_PER_DAY = Decimal(24)
# template.yaml's functions behind $connect and $disconnect; the others run per message sent.
CONNECT_FUNCTION = "ConnectFunction"
DISCONNECT_FUNCTION = "DisconnectFunction"


class MeasuredRunError(ValueError):
    """A run directory that cannot be priced (no run.json, nothing measured)."""


@dataclass(frozen=True)
class FunctionUse:
    """One Lambda function in the run: invocations, billed milliseconds, memory, cold starts."""

    name: str  # from the emulator's notes; UNNAMED_FUNCTION when the log does not say
    invocations: int
    billed_ms: int  # the invocations' billed ms without INIT (`init_phase.invoke_billed_ms`)
    memory_mb: int
    cold_starts: int
    init_ms: int = 0  # what the cold starts' INIT adds to the billed ms when it is billed


@dataclass(frozen=True)
class MeasuredLambda:
    """A serverless target's measurements: its functions, and what they served."""

    target: str
    functions: tuple[FunctionUse, ...]
    published: int  # messages sent in the run (sendMessage invocations serve these)
    sessions: int  # connections opened in the run ($connect / $disconnect serve these)
    message_bytes: int  # size each message is metered at (bytes per delivered message)
    # Billed ms per message sent from the memory tune, when the run was saturated (None: the
    # run's own REPORT lines), and which durations price the target, in words
    uncontended_send_ms: Decimal | None = None
    durations_from: str = ""
    # what the functions ran on: a stack's recorded architecture; the emulator models x86_64
    architecture: Architecture = "x86_64"

    def _serving(self, route: str | None) -> list[FunctionUse]:
        """The functions behind $connect or $disconnect, or (None) every per-message one."""
        if route is None:
            session_names = {CONNECT_FUNCTION, DISCONNECT_FUNCTION}
            return [f for f in self.functions if f.name not in session_names]
        return [f for f in self.functions if f.name == route]

    def _ms_per_use(self, route: str | None, uses: int) -> Decimal:
        return Decimal(sum(f.billed_ms for f in self._serving(route))) / max(uses, 1)

    def _init_per_use(self, route: str | None, uses: int) -> InitPerUse:
        functions = self._serving(route)
        return InitPerUse(
            cold_starts=Decimal(sum(f.cold_starts for f in functions)) / max(uses, 1),
            billed_ms=Decimal(sum(f.init_ms for f in functions)) / max(uses, 1),
        )

    @property
    def send_ms_per_message(self) -> Decimal:
        """Billed ms of every per-message function, per message sent."""
        if self.uncontended_send_ms is not None:
            return self.uncontended_send_ms
        return self._ms_per_use(None, self.published)

    @property
    def connect_ms_per_session(self) -> Decimal:
        """Billed ms of $connect per connection opened."""
        return self._ms_per_use(CONNECT_FUNCTION, self.sessions)

    @property
    def disconnect_ms_per_session(self) -> Decimal:
        """Billed ms of $disconnect per connection opened."""
        return self._ms_per_use(DISCONNECT_FUNCTION, self.sessions)

    @property
    def send_init(self) -> InitPerUse:
        """Cold starts and INIT ms of every per-message function, per message sent."""
        return self._init_per_use(None, self.published)

    @property
    def connect_init(self) -> InitPerUse:
        """Cold starts and INIT ms of $connect per connection opened."""
        return self._init_per_use(CONNECT_FUNCTION, self.sessions)

    @property
    def disconnect_init(self) -> InitPerUse:
        """Cold starts and INIT ms of $disconnect per connection opened."""
        return self._init_per_use(DISCONNECT_FUNCTION, self.sessions)

    @property
    def memory_mb(self) -> int:
        """The memory size most invocations ran with."""
        sizes = Counter({f.memory_mb: f.invocations for f in self.functions})
        return sizes.most_common(1)[0][0]


@dataclass(frozen=True)
class MeasuredContainer:
    """A long-running server's measurements: CPU per 1,000 delivered messages, RSS."""

    target: str
    cpu_s_per_1k_delivered: Decimal
    rss_bytes_per_connection: Decimal  # history's share off, when the run measured it
    base_rss_bytes: Decimal  # the server's memory before connections
    history: HistoryBound | None = None  # None: not measured (history is then in the above)


@dataclass(frozen=True)
class MeasuredRun:
    """What a run measured that prices depend on, and why any target was left out."""

    run_id: str
    scenario_users: int
    room_size: int
    messages_per_user_per_day: Decimal  # the scenario's publishing, sustained for a day
    serverless: tuple[MeasuredLambda, ...]
    containers: tuple[MeasuredContainer, ...]
    skipped: dict[str, str]  # target -> why it is not priced


def read_function_uses(path: Path) -> tuple[FunctionUse, ...]:
    """Aggregate a REPORT log by function (named by the EMULATOR or SOURCE lines, if any)."""
    by_name: dict[str, list[LambdaReport]] = {}
    with path.open(encoding="utf-8", errors="replace") as lines:
        for report, _, function in read_invocations(lines):
            by_name.setdefault(function, []).append(report)
    return tuple(
        FunctionUse(
            name=name,
            invocations=len(group),
            billed_ms=sum(invoke_billed_ms(r) for r in group),
            memory_mb=Counter(r.memory_size_mb for r in group).most_common(1)[0][0],
            cold_starts=sum(r.init_duration_ms is not None for r in group),
            init_ms=sum(init_billed_ms(r) for r in group),
        )
        for name, group in sorted(by_name.items())
    )


def _architecture(result: TargetResult) -> Architecture:
    """The architecture a target's functions ran on: its deployment's, else x86_64."""
    deployment = result.deployment
    return deployment.architecture if deployment and deployment.architecture else "x86_64"


def _metric(metrics: dict[str, float | int | None], name: str) -> Decimal | None:
    value = metrics.get(name)
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return Decimal(str(value))


def _container(
    target: str, metrics: dict[str, float | int | None], limits: Limits | None
) -> MeasuredContainer | str:
    """RSS per connection with history's share off, and history apart, when the run measured
    them (docs/design.md "Memory figures"); a run from before: RSS growth per connection."""
    cpu = _metric(metrics, "server_cpu_s_per_1k_delivered")
    per_connection = _metric(metrics, "server_rss_per_connection_net_bytes")
    per_message = _metric(metrics, "server_rss_per_retained_message_bytes")
    retained = _metric(metrics, "server_retained_messages_max") or Decimal(0)
    if per_connection is None:
        per_connection, per_message = _metric(metrics, "server_rss_per_connection_bytes"), None
    rss_max = _metric(metrics, "server_rss_max_bytes")
    connections = _metric(metrics, "server_connections_max") or Decimal(0)
    if cpu is None or per_connection is None or rss_max is None:
        return "no CPU or memory measurement of the server"
    history = None
    known = limits is not None and None not in (limits.history_size, limits.history_max_age_s)
    if per_message is not None and limits is not None and known:
        history = HistoryBound(
            history_size=int(limits.history_size or 0),
            history_max_age_s=Decimal(str(limits.history_max_age_s)),
            bytes_per_message=per_message,
        )
    history_bytes = retained * per_message if history is not None and per_message else 0
    base = max(rss_max - per_connection * connections - history_bytes, Decimal(0))
    return MeasuredContainer(target, cpu, max(per_connection, Decimal(0)), base, history)


def measure_run(run_dir: Path) -> MeasuredRun:
    """Read what pricing needs from a run directory (run.json and the REPORT logs)."""
    try:
        run = load_run(run_dir)
    except OSError as exc:
        raise MeasuredRunError(f"{run_dir}: no readable run.json ({exc.strerror})") from None
    except RunFileError as exc:
        raise MeasuredRunError(str(exc)) from None
    return measured_from(run, run_dir)


def measured_from(run: RunResult, run_dir: Path) -> MeasuredRun:
    """What pricing needs from a loaded run (REPORT logs read from `run_dir`)."""
    scenario = run.scenario
    serverless: list[MeasuredLambda] = []
    containers: list[MeasuredContainer] = []
    skipped: dict[str, str] = {}
    for name, result in run.targets.items():
        if result.status is not TargetStatus.OK:
            skipped[name] = f"not measured ({result.status.value})"
            continue
        metrics = result.metrics
        report_log = run_dir / name / REPORT_LOG_FILE
        if report_log.exists():
            functions = read_function_uses(report_log)
            if not functions:
                skipped[name] = f"{REPORT_LOG_FILE} holds no REPORT line"
                continue
            source = duration_source(result, run.host.cpu_count_logical)
            serverless.append(
                MeasuredLambda(
                    target=name,
                    functions=functions,
                    published=int(metrics.get("published") or 0),
                    sessions=int((metrics.get("users") or 0) + (metrics.get("reconnects") or 0)),
                    message_bytes=round(float(metrics.get("bytes_per_delivered") or 0)),
                    uncontended_send_ms=source.send_ms,
                    durations_from=source.note,
                    architecture=_architecture(result),
                )
            )
            continue
        limits = run.held_equal.limits if run.held_equal is not None else None
        measured = _container(name, metrics, limits)
        if isinstance(measured, str):
            skipped[name] = measured
        else:
            containers.append(measured)
    per_user_per_s = scenario.room_publish_rate_per_s / scenario.users_per_room
    return MeasuredRun(
        run_id=run.run_id,
        scenario_users=scenario.users,
        room_size=scenario.users_per_room,
        messages_per_user_per_day=Decimal(str(round(per_user_per_s * 86_400, 6))),
        serverless=tuple(serverless),
        containers=tuple(containers),
        skipped=skipped,
    )


@dataclass(frozen=True)
class Load:
    """A month of chat: users, how much each sends, who receives it, how long they stay."""

    users: Decimal
    messages_per_user_per_day: Decimal
    room_size: int  # members receiving each message, the sender included
    hours_per_day: Decimal = HOURS_PER_DAY
    month_days: Decimal = Decimal(30)

    @property
    def delivered_per_month(self) -> Decimal:
        """Deliveries in the month: every message to every member of its room."""
        return self.users * self.messages_per_user_per_day * self.month_days * self.room_size

    @property
    def delivered_per_second(self) -> Decimal:
        """Average deliveries per second over the month."""
        return self.delivered_per_month / seconds_in_month(self.month_days)

    @property
    def room_messages_per_s(self) -> Decimal:
        """Messages a second into each room while its users are on (their hours of the day)."""
        active_s = self.hours_per_day * 3_600
        return self.room_size * self.messages_per_user_per_day / active_s

    def at_delivered_rate(self, per_second: Decimal) -> Load:
        """The same users and rooms, sending enough to deliver `per_second` messages/s."""
        sent_per_day = per_second * 86_400 / self.room_size
        return replace(self, messages_per_user_per_day=sent_per_day / self.users)


def load_of_run(measured: MeasuredRun) -> Load:
    """The run's own load (its users, its publishing rate), sustained for a month."""
    return Load(
        users=Decimal(measured.scenario_users),
        messages_per_user_per_day=measured.messages_per_user_per_day,
        room_size=measured.room_size,
    )


@dataclass(frozen=True)
class TaskSize:
    """The Fargate task the container targets run in, and how full it may get."""

    vcpu: Decimal = Decimal(1)  # one uvicorn process uses one core
    memory_gb: Decimal = Decimal(2)
    target_utilization: Decimal = Decimal("0.7")


DEFAULT_TASK = TaskSize()


@dataclass(frozen=True, kw_only=True)
class PricingTerms:
    """What a run is priced under besides the prices: the Fargate task, Lambda's free tier,
    the rule for cold starts' INIT."""

    task: TaskSize = DEFAULT_TASK
    free_tier: bool = False
    init_billing: InitBilling = "billed"


DEFAULT_TERMS = PricingTerms()


@dataclass(frozen=True)
class TargetCost:
    """One target's month at a load: the bill behind it and its price per delivered message."""

    target: str
    kind: Literal["serverless", "containers"]
    monthly_usd: Decimal
    delivered_per_month: Decimal
    chat: ChatBill | None = None  # serverless: API Gateway + Lambda + DynamoDB
    sizing: TaskSizing | None = None  # containers: tasks needed
    fargate: FargateBill | None = None

    @property
    def usd_per_million_delivered(self) -> Decimal | None:
        """The month's bill per million delivered messages (None without deliveries)."""
        if self.delivered_per_month <= 0:
            return None
        return self.monthly_usd / self.delivered_per_month * MILLION


def serverless_cost(
    measured: MeasuredLambda,
    load: Load,
    pricing: Pricing,
    *,
    free_tier: bool = False,
    init_billing: InitBilling = "billed",
) -> TargetCost:
    """The serverless chat's month at `load`, with the run's billed durations, cold starts
    (as many per message and per session as in the run) and memory."""
    workload = ChatWorkload(
        users=load.users,
        hours_per_day=load.hours_per_day,
        messages_per_user_per_day=load.messages_per_user_per_day,
        room_size=load.room_size,
        message_bytes=measured.message_bytes,
        month_days=load.month_days,
        memory_mb=Decimal(measured.memory_mb),
        architecture=measured.architecture,
        send_duration_ms=measured.send_ms_per_message,
        connect_duration_ms=measured.connect_ms_per_session,
        disconnect_duration_ms=measured.disconnect_ms_per_session,
        free_tier=free_tier,
        send_init=measured.send_init,
        connect_init=measured.connect_init,
        disconnect_init=measured.disconnect_init,
        init_billing=init_billing,
    )
    bill = chat_bill(workload, pricing)
    return TargetCost(
        measured.target, "serverless", bill.total_usd, load.delivered_per_month, chat=bill
    )


def container_cost(
    measured: MeasuredContainer, load: Load, pricing: Pricing, task: TaskSize = DEFAULT_TASK
) -> TargetCost:
    """Always-on Fargate tasks sized for `load`: CPU for its messages, memory for its users."""
    server_load = ServerLoad(
        messages_per_second=load.delivered_per_second,
        cpu_seconds_per_1000_messages=measured.cpu_s_per_1k_delivered,
        connections=load.users,  # sized for every user connected at once
        rss_mb_per_connection=measured.rss_bytes_per_connection / BYTES_PER_MB,
        base_rss_mb=measured.base_rss_bytes / BYTES_PER_MB,
        rooms=load.users / load.room_size,
        history_mb_per_room=Decimal(0)
        if measured.history is None
        else measured.history.mb_per_room(load.room_messages_per_s),
    )
    sizing = tasks_for_load(
        server_load,
        task_vcpu=task.vcpu,
        task_memory_gb=task.memory_gb,
        target_utilization=task.target_utilization,
    )
    bill = fargate_bill(
        task.vcpu,
        task.memory_gb,
        pricing,
        tasks=sizing.tasks,
        hours=hours_in_month(load.month_days),
    )
    return TargetCost(
        measured.target,
        "containers",
        bill.total_usd,
        load.delivered_per_month,
        sizing=sizing,
        fargate=bill,
    )


@dataclass(frozen=True)
class RunPricing:
    """Every priced target at one load."""

    run_id: str
    load: Load
    task: TaskSize
    free_tier: bool
    costs: tuple[TargetCost, ...]
    skipped: dict[str, str]
    init_billing: InitBilling = "billed"


def price_run(
    measured: MeasuredRun,
    pricing: Pricing,
    load: Load | None = None,
    terms: PricingTerms = DEFAULT_TERMS,
) -> RunPricing:
    """Price every measured target at `load` (the run's own by default)."""
    load = load or load_of_run(measured)
    task, free_tier, init_billing = terms.task, terms.free_tier, terms.init_billing
    costs = [
        serverless_cost(s, load, pricing, free_tier=free_tier, init_billing=init_billing)
        for s in measured.serverless
    ]
    costs += [container_cost(c, load, pricing, task) for c in measured.containers]
    return RunPricing(
        measured.run_id,
        load,
        task,
        free_tier,
        tuple(costs),
        measured.skipped,
        init_billing,
    )
