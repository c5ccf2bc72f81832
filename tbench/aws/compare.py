"""The emulator's durations beside AWS's: how far the local model is from the real thing.

An AWS run (`tbench aws run`) leaves AWS's own REPORT lines in its lambda directory; the
`sendMessage` ones, warm and complete, give its duration at the memory it was deployed with.
`tbench lambda tune --aws RUN_DIR...` tunes the emulator at those memory sizes and puts each
beside the AWS run's, with the model's error. The loads differ, and the table says how: AWS's
durations are the run's own (the scenario's room, concurrent invocations), the tune's are one
invocation at a time in a room of ten.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from contract.lambda_report import REPORT_LOG_FILE, read_invocations
from contract.results import LambdaTuneRow, RunFileError, load_run
from tbench.lambda_tune import SEND_FUNCTION, percentile

TARGET = "lambda"


class CompareError(ValueError):
    """A directory that holds no AWS run of the lambda target with sendMessage durations."""


@dataclass(frozen=True)
class AwsDurations:
    """sendMessage's warm durations in one AWS run, at the memory it was deployed with."""

    run_id: str
    memory_mb: int
    architecture: str
    room_size: int
    invocations: int
    duration_p50_ms: float
    duration_p95_ms: float
    billed_p50_ms: int


@dataclass(frozen=True)
class ModelError:
    """One memory size: the emulator's tune beside an AWS run."""

    emulator: LambdaTuneRow
    aws: AwsDurations

    @property
    def error_percent(self) -> float:
        """(emulator − AWS) / AWS at the p50, in percent: positive when the model is slower."""
        aws = self.aws.duration_p50_ms
        return (self.emulator.duration_p50_ms - aws) / aws * 100 if aws else float("nan")


def aws_durations(run_dir: Path) -> AwsDurations:
    """sendMessage's durations in an AWS run directory; CompareError if it holds none."""
    try:
        run = load_run(run_dir)
    except (OSError, RunFileError) as exc:
        raise CompareError(f"{run_dir}: no readable run.json ({exc})") from None
    result = run.targets.get(TARGET)
    deployment = result.deployment if result is not None else None
    if deployment is None or deployment.cloud != "aws" or not deployment.function_memory_mb:
        raise CompareError(f"{run_dir}: not a `tbench aws run` of the lambda target")
    log = run_dir / TARGET / REPORT_LOG_FILE
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    warm = [
        report
        for report, _, function in read_invocations(lines)
        if function == SEND_FUNCTION and report.init_duration_ms is None and report.status is None
    ]
    if not warm:
        raise CompareError(f"{log}: no warm sendMessage REPORT line")
    durations = [r.duration_ms for r in warm]
    return AwsDurations(
        run_id=run.run_id,
        memory_mb=deployment.function_memory_mb,
        architecture=deployment.architecture or "x86_64",
        room_size=run.scenario.users_per_room,
        invocations=len(warm),
        duration_p50_ms=round(percentile(durations, 0.5), 2),
        duration_p95_ms=round(percentile(durations, 0.95), 2),
        billed_p50_ms=int(percentile([r.billed_duration_ms for r in warm], 0.5)),
    )


def model_errors(tuned: Sequence[LambdaTuneRow], runs: Sequence[AwsDurations]) -> list[ModelError]:
    """Each AWS run beside the tune's row at its memory size (runs without one are left out)."""
    by_memory = {row.memory_mb: row for row in tuned}
    return [ModelError(by_memory[run.memory_mb], run) for run in runs if run.memory_mb in by_memory]
