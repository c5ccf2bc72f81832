"""The report's methodology: scenario, what was held equal, machine, versions, warnings."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from analysis.load import RunData
from contract.aws import masked_account_id
from contract.results import (
    FLAG_DURATIONS_UNMODELLED,
    FLAG_ERRORS,
    FLAG_LOADGEN_SATURATED,
    FLAG_UNDER_DELIVERED,
    LOADGEN_SATURATION_PERCENT,
    METRICS,
    CpuModel,
    Deployment,
    TargetStatus,
)
from reports.faults import faulted_targets
from reports.formatting import integer, number
from reports.verdict import VERDICT_METRICS

Pairs = list[tuple[str, str]]


@dataclass(frozen=True)
class Methodology:
    """Everything a reader needs to judge and repeat the run, as label/value pairs."""

    scenario: Pairs
    held_equal: Pairs  # empty when the run did not record it
    deployments: Pairs  # per target, when run with --replicas / --broker
    load_generator: Pairs
    machine: Pairs
    versions: Pairs
    provenance: Pairs
    definitions: Pairs  # the verdict's metrics, as contract.results.METRICS defines them


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{key} = {_text(item)}" for key, item in value.items()) or "–"
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    return str(value)


def cpu_model_text(state: CpuModel | None) -> str:
    """The Lambda CPU model of a run, in words (run.json's deployment.cpu_model)."""
    if state is not None and state.modelled:
        return (
            f"each execution environment gets memory / {integer(state.mb_per_vcpu)} vCPU, "
            f"as on AWS ({state.mechanism}, {integer(state.period_us)} µs period): "
            "durations are what AWS would bill for the CPU-bound part"
        )
    return (
        f"off: {state.reason if state else None}. Durations are unmodelled: the environments "
        "had the machine's CPU, not their memory's share"
    )


def _deployment_text(deployment: Deployment) -> str:
    # what the run recorded, in the model's order (Deployment writes only the fields given)
    rest = deployment.model_dump(mode="json", exclude={"cpu_model"})
    if deployment.account_id is not None:  # a reader of the report need not know the account
        rest["account_id"] = masked_account_id(deployment.account_id)
    state = deployment.cpu_model
    parts = [f"Lambda CPU model: {cpu_model_text(state)}"] if state is not None else []
    return "; ".join([*parts, *([_text(rest)] if rest else [])])


def methodology(data: RunData) -> Methodology:
    """Read the run's metadata (run.json), not prose: what ran, where, with what."""
    run = data.run
    host = run.host
    held = run.held_equal
    held_pairs: Pairs = []
    if held is not None:
        gc_thresholds = held.gc_thresholds
        held_pairs = [
            ("broker", _text(held.broker)),
            ("serializer", _text(held.serializer)),
            ("limits", _text(held.limits.model_dump(mode="json"))),  # the ones recorded
            ("uvicorn settings", _text(held.uvicorn)),
            (
                "CPython GC thresholds",
                _text(gc_thresholds) if gc_thresholds is not None else "not recorded",
            ),
            (
                "where the lambda emulator differs (as API Gateway does)",
                _text(held.lambda_emulator_uvicorn_differs),
            ),
        ]
    generator = run.load_generator
    # the fields the run recorded: one older than a field lacks it
    scenario = run.scenario.model_dump(mode="json", exclude_unset=True)
    return Methodology(
        scenario=[(key, _text(value)) for key, value in scenario.items()],
        held_equal=held_pairs,
        deployments=[
            (target, _deployment_text(deployment))
            for target in data.targets
            if (deployment := run.targets[target].deployment) is not None
        ],
        load_generator=[
            ("mode", _text(generator.mode)),
            ("local workers", _text(generator.workers)),
            ("remote workers", _text(generator.remote_workers)),
            (
                "clocks",
                "one host: publisher and receivers share a clock"
                if not generator.remote_workers
                else "several hosts: latency needs their clocks in step",
            ),
        ],
        machine=[
            ("host", host.hostname),
            ("OS", host.os),
            ("CPU", f"{host.cpu_model}, {host.cpu_count_logical} logical cores"),
            ("RAM", f"{host.ram_bytes / 2**30:,.1f} GiB"),
        ],
        versions=[(name, version) for name, version in run.packages.items()],
        provenance=[
            ("run id", run.run_id),
            ("status", run.status),
            ("started", run.started_at),
            ("ended", run.ended_at or "–"),
            (
                "commit",
                f"{run.git_commit or 'unknown'}{' (uncommitted changes)' if run.git_dirty else ''}",
            ),
            ("command", " ".join(run.command)),
        ],
        definitions=[(metric, METRICS.get(metric, "")) for metric, _ in VERDICT_METRICS],
    )


def target_warnings(data: RunData, target: str) -> list[str]:
    """What a reader must know about one target's numbers: its failure, or each flag raised."""
    result = data.run.targets[target]
    if result.status is not TargetStatus.OK:
        error = (result.error or "no error recorded").splitlines()[0]
        return [f"{target} {result.status.value}: {error}"]
    notes = []
    if FLAG_LOADGEN_SATURATED in result.flags:
        busy = data.metric(target, "loadgen_cpu_percent_mean")
        notes.append(
            f"{target}: the load generator was saturated ({number(busy)} % of a core, over "
            f"{LOADGEN_SATURATION_PERCENT:g} %): its latencies include the client's queueing."
        )
    if FLAG_UNDER_DELIVERED in result.flags:
        notes.append(
            f"{target}: delivered {integer(data.metric(target, 'delivered'))} of "
            f"{integer(data.metric(target, 'expected'))} expected messages."
        )
    if FLAG_DURATIONS_UNMODELLED in result.flags:
        state = result.deployment.cpu_model if result.deployment else None
        notes.append(
            f"{target}: Lambda's CPU model was {cpu_model_text(state)}, so its Duration and "
            "cost are not what AWS would bill at the configured memory."
        )
    if FLAG_ERRORS in result.flags:
        notes.append(f"{target}: {integer(data.metric(target, 'errors'))} errors.")
    skew = data.metric(target, "clock_skew_samples")
    if math.isfinite(skew) and skew > 0:
        notes.append(f"{target}: {integer(skew)} negative latencies (clocks not in step).")
    return notes


def warnings(data: RunData) -> list[str]:
    """What a reader must know before trusting the numbers, one sentence each."""
    run = data.run
    notes = []
    if run.status != "complete":
        notes.append(f"The run is {run.status}: some targets were not measured.")
    if run.git_dirty:
        notes.append("The code had uncommitted changes: the commit alone does not reproduce it.")
    for target in data.targets:
        notes += target_warnings(data, target)
    if faulted := faulted_targets(data):
        kinds = dict.fromkeys(f.kind for t in faulted for f in run.targets[t].faults)
        injected = f" ({', '.join(kinds)})" if kinds else ""
        notes.append(
            f"This run injected faults{injected} into {', '.join(faulted)}: latencies, "
            "throughput and losses include recovery, so they are no clean comparison with a run "
            "without faults (see Delivery under faults)."
        )
    reports = data.lambda_reports
    for target in data.serverless:
        deployment = run.targets[target].deployment
        if deployment is not None and deployment.cloud == "aws":
            notes.append(
                f"{target} ran on AWS ({deployment.region}, {deployment.architecture}, "
                f"{deployment.function_memory_mb} MB): its durations, cold starts and bill come "
                "from AWS's own REPORT lines, read from CloudWatch Logs after the run."
            )
            continue
        waits = reports[reports["target"] == target]["queue_wait_ms"]
        notes.append(
            f"{target} ran on the local API Gateway + Lambda emulator: durations and cold starts "
            f"are this machine's, and invocations waited up to {number(waits.max())} ms for one "
            "of its worker processes (AWS would run them at once)."
        )
    return notes
