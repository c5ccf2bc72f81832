"""What `tbench run` adds for an emulated Lambda target: its CPU model, and a short tune.

The CPU model's state (quotas set or not, and why) is read from the emulator before it
stops and goes into the target's `deployment`; durations measured without it are flagged.
After the load, a short `tbench lambda tune` (a few memory sizes including the configured
one, a few invocations each, one at a time) gives durations without contention, which the
report prices Lambda from when the run itself was saturated.
"""

from __future__ import annotations

from pathlib import Path

from contract.registry import TargetSpec
from contract.results import FLAG_DURATIONS_UNMODELLED, CpuModel, Deployment, TargetResult
from tbench.lambda_tune import configured_memory_mb, tune

RUN_TUNE_SIZES = (128, 512, 1769)  # beside the configured size: the ends and a middle
RUN_TUNE_INVOCATIONS = 5  # the whole tune stays well under a minute
TUNE_DIR = "tune"  # REPORT lines and emulator logs of the tune, in the target's directory


def has_cpu_model(spec: TargetSpec) -> bool:
    """The target is the local Lambda emulator (it has a CPU model to turn off)."""
    return spec.no_cpu_model_option is not None


def record(result: TargetResult, state: CpuModel | None) -> None:
    """Put the CPU model into the target's deployment; flag durations it did not model."""
    if state is None:
        return
    deployment = result.deployment = result.deployment or Deployment()
    deployment.cpu_model = state
    deployment.function_memory_mb = configured_memory_mb()
    if not state.modelled and FLAG_DURATIONS_UNMODELLED not in result.flags:
        result.flags.append(FLAG_DURATIONS_UNMODELLED)


def run_tune_sizes() -> list[int]:
    """The sizes a run tunes: the configured one among RUN_TUNE_SIZES."""
    return sorted({*RUN_TUNE_SIZES, configured_memory_mb()})


def short_tune(result: TargetResult, target_dir: Path, cpu_model: bool) -> str | None:
    """Tune into `result.lambda_tune`; the error, if it failed (the load's results stand)."""
    try:
        sizes, directory = run_tune_sizes(), target_dir / TUNE_DIR
        rows = tune(sizes, RUN_TUNE_INVOCATIONS, cpu_model, directory=directory)
    except Exception as exc:  # the tune is an addition: its failure must not lose the load
        deployment = result.deployment = result.deployment or Deployment()
        deployment.tune_error = str(exc)
        return str(exc)
    result.lambda_tune = rows
    return None
