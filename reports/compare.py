"""Two runs side by side: the verdict's metrics per target, and how much each moved."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from analysis.load import RunData, load_run_dir
from analysis.palette import target_colours, target_order
from contract.results import write_bytes_atomic
from reports.build import render_template
from reports.faults import faulted_targets
from reports.formatting import DASH, number, signed_percent
from reports.verdict import VERDICT_METRICS

HIGHER_IS_BETTER = frozenset({"delivered_per_s"})
NOISE = 0.05  # relative changes under 5 % are not called better or worse


@dataclass(frozen=True)
class DeltaRow:
    """One metric of one target in both runs."""

    target: str
    metric: str
    label: str
    before: str
    after: str
    delta: str
    relative: str
    verdict: str  # "better", "worse" or ""


@dataclass(frozen=True)
class Comparison:
    """Run A against run B: who they are, how they differ in setup, and the deltas."""

    before_id: str
    after_id: str
    before_scenario: str
    after_scenario: str
    differences: list[str]  # setup differences a reader must weigh (scenario, host, commit)
    rows: list[DeltaRow]


def _judge(metric: str, before: float, after: float) -> str:
    if not (math.isfinite(before) and math.isfinite(after)) or before == 0:
        return ""
    change = (after - before) / abs(before)
    if abs(change) < NOISE:
        return ""
    improved = change > 0 if metric in HIGHER_IS_BETTER else change < 0
    return "better" if improved else "worse"


def _differences(before: RunData, after: RunData) -> list[str]:
    notes = []
    for label, data in (("A", before), ("B", after)):
        if faulted := faulted_targets(data):
            notes.append(
                f"run {label} injected faults into {', '.join(faulted)}: its latencies, "
                "throughput and losses include recovery (a target with faults in one run only "
                "is not called better or worse)"
            )
    a, b = before.run, after.run
    a_scenario, b_scenario = a.scenario.model_dump(), b.scenario.model_dump()
    changed = sorted(key for key in a_scenario if a_scenario[key] != b_scenario[key])
    if changed:
        notes.append("scenario differs in: " + ", ".join(changed))
    if a.host.cpu_model != b.host.cpu_model or a.host.hostname != b.host.hostname:
        notes.append(
            f"machines differ: {a.host.hostname} ({a.host.cpu_model}) vs "
            f"{b.host.hostname} ({b.host.cpu_model})"
        )
    if a.git_commit != b.git_commit:
        notes.append(f"code differs: commit {a.git_commit or '?'} vs {b.git_commit or '?'}")
    return notes


def compare_runs(before: RunData, after: RunData) -> Comparison:
    """Every target of either run, every verdict metric: before, after, delta, relative."""
    rows = []
    # faults in one run only: the delta is the faults', not the code's or the setup's
    unlike = set(faulted_targets(before)) ^ set(faulted_targets(after))
    for target in target_order([*before.run.targets, *after.run.targets]):
        for metric, label in VERDICT_METRICS:
            a = before.metric(target, metric) if target in before.run.targets else math.nan
            b = after.metric(target, metric) if target in after.run.targets else math.nan
            both = math.isfinite(a) and math.isfinite(b)
            rows.append(
                DeltaRow(
                    target=target,
                    metric=metric,
                    label=label,
                    before=number(a),
                    after=number(b),
                    delta=number(b - a) if both else DASH,
                    relative=signed_percent((b - a) / abs(a)) if both and a else DASH,
                    verdict="" if target in unlike else _judge(metric, a, b),
                )
            )
    return Comparison(
        before_id=before.run.run_id,
        after_id=after.run.run_id,
        before_scenario=before.run.scenario.name,
        after_scenario=after.run.scenario.name,
        differences=_differences(before, after),
        rows=rows,
    )


def build_comparison(before_dir: Path, after_dir: Path, out: Path | None = None) -> Path:
    """Write the comparison as HTML (default: compare-<A>.html in run B's directory)."""
    comparison = compare_runs(load_run_dir(before_dir), load_run_dir(after_dir))
    path = out or after_dir / f"compare-{comparison.before_id}.html"
    names = sorted({row.target for row in comparison.rows})
    html = render_template("compare.html.j2", c=comparison, colours=target_colours(names))
    write_bytes_atomic(path, html.encode())
    return path
