"""The runs a plan is made from: one that measured capacity, one that measured the lambda target.

Given by the user, or the newest of each under a results folder. A report takes them from its
own run first, then from the runs beside it (`make bench` measures capacity in a run of its
own, before the chat comparison that measures the lambda target).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from contract.lambda_report import REPORT_LOG_FILE
from contract.results import RUN_FILE, RunFileError, RunResult, TargetStatus, load_run
from cost_model.at_scale import MeasuredTransport, PlanError
from cost_model.measured import MeasuredLambda, MeasuredRunError, measured_from
from cost_model.plan import measured_transports


@dataclass(frozen=True)
class SourceRun:
    """A run directory and what its run.json says."""

    path: Path
    run: RunResult


@dataclass(frozen=True)
class PlanSources:
    """What a plan prices: the capacity run's transports and the lambda run's figures."""

    capacity: SourceRun
    lambda_run: SourceRun | None

    @property
    def containers(self) -> list[MeasuredTransport]:
        """The container transports whose capacity the capacity run measured."""
        return measured_transports(self.capacity.run)

    @property
    def serverless(self) -> MeasuredLambda | None:
        """The lambda target the lambda run measured, if any."""
        if self.lambda_run is None:
            return None
        try:
            measured = measured_from(self.lambda_run.run, self.lambda_run.path)
        except MeasuredRunError:
            return None
        return measured.serverless[0] if measured.serverless else None

    def described(self) -> dict[str, str]:
        """Which run each part came from, for the reader."""
        sources = {"capacity": str(self.capacity.path)}
        if self.lambda_run is not None:
            sources["lambda"] = str(self.lambda_run.path)
        return sources


def runs_under(results: Path, *, recursive: bool) -> list[SourceRun]:
    """Every readable run under `results` (or only in its folders), newest first; damaged
    ones are passed over."""
    runs = []
    for run_file in sorted(results.glob(f"{'**' if recursive else '*'}/{RUN_FILE}")):
        try:
            runs.append(SourceRun(run_file.parent, load_run(run_file)))
        except (OSError, RunFileError):
            continue
    return sorted(runs, key=lambda source: source.run.started_at, reverse=True)


def read_source(run_dir: Path) -> SourceRun:
    """One run directory; PlanError naming it when it has no readable run.json."""
    try:
        return SourceRun(run_dir, load_run(run_dir))
    except OSError as exc:
        raise PlanError(f"{run_dir}: no readable run.json ({exc.strerror})") from None
    except RunFileError as exc:
        raise PlanError(str(exc)) from None


def has_capacity(source: SourceRun) -> bool:
    """Whether a target of the run measured its capacity."""
    return any(result.capacity is not None for result in source.run.targets.values())


def has_lambda(source: SourceRun) -> bool:
    """Whether the run measured a lambda target (its REPORT lines are there)."""
    return any(
        result.status is TargetStatus.OK and (source.path / name / REPORT_LOG_FILE).exists()
        for name, result in source.run.targets.items()
    )


def find_sources(
    results: Path,
    capacity_run: Path | None = None,
    lambda_run: Path | None = None,
    *,
    recursive: bool = True,
) -> PlanSources:
    """The capacity run and the lambda run: as given, or the newest under `results` (in its
    folders only, unless `recursive`).

    Raises PlanError when no capacity run is given or found, or a given one is unreadable.
    """
    missing = capacity_run is None or lambda_run is None
    found = runs_under(results, recursive=recursive) if missing else []
    if capacity_run is not None:
        capacity = read_source(capacity_run)
    else:
        newest = next((source for source in found if has_capacity(source)), None)
        if newest is None:
            raise PlanError(
                f"no run under {results} measured capacity: run `make bench`, or "
                "`tbench run --scenario capacity`, or name one with --run"
            )
        capacity = newest
    if lambda_run is not None:
        return PlanSources(capacity, read_source(lambda_run))
    return PlanSources(capacity, next((source for source in found if has_lambda(source)), None))


def sources_beside(source: SourceRun) -> PlanSources:
    """For a run's report: its own capacity and lambda figures, else the newest beside it.

    Raises PlanError when neither it nor a run beside it measured capacity.
    """
    return find_sources(
        source.path.parent,
        source.path if has_capacity(source) else None,
        source.path if has_lambda(source) else None,
        recursive=False,  # a report's own folder may hold anything: only its siblings
    )
