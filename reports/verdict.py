"""The report's per-target tables: the verdict and the delivery guarantees."""

from __future__ import annotations

from dataclasses import dataclass

from analysis.load import RunData
from contract.registry import TARGETS
from contract.results import TargetStatus, Verification
from cost_model.measured import RunPricing
from reports.formatting import DASH, integer, kib, number

# The verdict's columns: (metric in contract.results.METRICS, short header).
VERDICT_METRICS: tuple[tuple[str, str], ...] = (
    ("delivery_p50_ms", "p50 ms"),
    ("delivery_p99_ms", "p99 ms"),
    ("delivery_scheduled_p99_ms", "p99 sched. ms"),
    ("delivered_per_s", "msgs/s"),
    ("server_cpu_s_per_1k_delivered", "CPU s / 1k msgs"),
    # history's share off (reports/memory.py shows the figure with it in)
    ("server_rss_per_connection_net_bytes", "RSS / conn. KiB"),
    ("bytes_per_delivered", "bytes / msg"),
    ("requests_per_delivered", "req. / msg"),
    ("lost", "lost"),
    ("duplicated", "dup."),
)


@dataclass(frozen=True)
class VerdictRow:
    """One target's line of the verdict table, formatted."""

    target: str
    status: str
    cells: tuple[str, ...]  # in VERDICT_METRICS order
    cost_per_million: str
    note: str


def _cell(data: RunData, target: str, metric: str, *, emulated: bool) -> str:
    value = data.metric(target, metric)
    if emulated and metric.startswith("server_"):
        # the local emulator's CPU and memory are not what AWS bills; on AWS there are none
        return data.serverless_label(target)
    if metric == "server_rss_per_connection_net_bytes":
        return kib(value)
    if metric in ("lost", "duplicated"):
        return integer(value)
    return number(value)


def verdict_rows(data: RunData, priced: RunPricing | None) -> list[VerdictRow]:
    """One row per target of the run: key figures, cost per million delivered, flags."""
    per_million = {}
    if priced is not None:
        per_million = {c.target: c.usd_per_million_delivered for c in priced.costs}
    rows = []
    for target in data.targets:
        result = data.run.targets[target]
        measured = result.status is TargetStatus.OK
        emulated = target in data.serverless
        cells = tuple(
            _cell(data, target, metric, emulated=emulated) if measured else DASH
            for metric, _ in VERDICT_METRICS
        )
        note = (
            (result.error or "").splitlines()[0][:140] if result.error else ", ".join(result.flags)
        )
        currency = priced is not None and target in per_million
        rows.append(
            VerdictRow(
                target=target,
                status=result.status.value,
                cells=cells,
                cost_per_million=number(per_million[target]) if currency else DASH,
                note=note,
            )
        )
    return rows


@dataclass(frozen=True)
class GuaranteeRow:
    """What a target promises (resume, ids) and what the run saw (loss, duplicates, order)."""

    target: str
    resume: str
    server_ids: str
    lost: str
    duplicated: str
    out_of_order: str
    reconnects: str
    conformance: str


def _conformance(verification: Verification | None) -> str:
    if verification is None:
        return "not verified in this run"
    counts = verification.counts
    tally = ", ".join(f"{count} {kind}" for kind, count in counts.items() if count)
    if verification.passed:
        return f"passed ({tally})"
    failures = "; ".join(verification.failures)[:200]
    return f"failed ({tally}): {failures}"


def guarantee_rows(data: RunData) -> list[GuaranteeRow]:
    """One row per target: resume support and ids from the registry, loss and order measured."""
    rows = []
    for target in data.targets:
        spec = TARGETS.get(target)
        measured = data.run.targets[target].status is TargetStatus.OK

        def count(metric: str, *, measured: bool = measured, target: str = target) -> str:
            return integer(data.metric(target, metric)) if measured else DASH

        rows.append(
            GuaranteeRow(
                target=target,
                resume=DASH if spec is None else ("yes, cursor" if spec.supports_resume else "no"),
                server_ids=DASH if spec is None else ("yes" if spec.assigns_ids else "no (null)"),
                lost=count("lost"),
                duplicated=count("duplicated"),
                out_of_order=count("out_of_order"),
                reconnects=count("reconnects"),
                conformance=_conformance(data.run.targets[target].verification),
            )
        )
    return rows
