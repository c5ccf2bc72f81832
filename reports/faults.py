"""The report's "Delivery under faults" section: one row per (target, fault), the expectation
each fault carries, and the rows that contradict it (run.json `faults`, see FaultOutcome)."""

from __future__ import annotations

from dataclasses import dataclass

from analysis.load import RunData
from contract.registry import TARGETS
from contract.results import FLAG_FAULTS, FaultOutcome, TargetResult
from contract.scenario import Faults, Scenario
from reports.formatting import DASH, integer, megabytes, number, percent_of, span


@dataclass(frozen=True)
class FaultRow:
    """One fault on one target, formatted; `contradiction` when it broke the expectation."""

    target: str
    kind: str
    injected: str  # "+8.0 s" after the target's first fault, or why it was not injected
    server_down: str
    reconnects: str
    reconnect_ms: str  # p50 / max
    recovered: str
    expected: str
    lost: str
    lost_note: str  # "3 reached no one": the part of the loss no receiver got at all
    duplicated: str
    late: str
    rss_mb: str  # before → peak
    resume_covers: str
    contradiction: str | None  # why the row contradicts the expectation; None when it does not


@dataclass(frozen=True)
class FaultSection:
    """What the faults do and what to expect of them, the table, and its warnings."""

    intro: str
    kinds: list[tuple[str, str]]  # (fault kind, what it does and what is expected)
    late_header: str
    resume_header: str
    rows: list[FaultRow]
    warnings: list[str]  # one per contradicting row, for the report's warnings


def faulted_targets(data: RunData) -> list[str]:
    """The run's targets that had faults injected (`tbench run --faults`), in report order."""
    run = data.run
    return [
        target
        for target in data.targets
        if FLAG_FAULTS in run.targets[target].flags or run.targets[target].faults
    ]


def _cursor(target: str) -> str | None:
    """How a target resumes after a reconnect (None: it cannot)."""
    spec = TARGETS.get(target)
    if spec is None or not spec.supports_resume:
        return None
    return "Last-Event-ID" if spec.family == "sse" else "since"


def _resumes(target: str) -> bool | None:
    """Whether a target resumes from a cursor; None for a target the registry does not know."""
    spec = TARGETS.get(target)
    return None if spec is None else spec.supports_resume


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def room_rate_per_s(scenario: Scenario) -> float | None:
    """Messages per second into each room (publishers per room × rate); None if nobody publishes."""
    rate = scenario.room_publish_rate_per_s
    return rate if rate > 0 else None


def _resume_covers(fault: FaultOutcome) -> str:
    return "no resume" if fault.resume_covers_s is None else span(fault.resume_covers_s)


def _resume_header(rate: float | None) -> str:
    """The column's header names the rate the coverage holds at (the same for every row)."""
    return "resume covers" if rate is None else f"resume covers (at {rate:,.3g} msg/s per room)"


def _lost(fault: FaultOutcome) -> str:
    if not fault.lost:
        return integer(fault.lost)
    return f"{integer(fault.lost)} ({percent_of(fault.lost, fault.expected)})"


def _contradiction(target: str, fault: FaultOutcome) -> str | None:
    """A resuming target that lost, across a drop, messages the server had taken."""
    resumed_loss = fault.lost - fault.lost_everywhere
    if fault.kind != "drop" or fault.injected_at is None or not _resumes(target):
        return None
    if resumed_loss <= 0:
        return None
    return (
        f"{target} lost {integer(resumed_loss)} of {integer(fault.expected)} messages across a "
        f"drop although it resumes from its cursor ({_cursor(target)}): expected 0"
    )


def _seconds(value: float | None) -> str:
    return DASH if value is None else f"{number(value)} s"


def _row(
    target: str, fault: FaultOutcome, first_at: float, *, emulated: bool, rate: float | None
) -> FaultRow:
    if fault.injected_at is None:
        injected = (fault.error or "not injected").splitlines()[0][:120]
    else:
        injected = f"+{fault.injected_at - first_at:.1f} s"
    reconnects = integer(fault.reconnects)
    if fault.not_reconnected:
        reconnects += f", {integer(fault.not_reconnected)} not back"
    if fault.reconnect_p50_ms is None and fault.reconnect_max_ms is None:
        reconnect_ms = DASH
    else:
        reconnect_ms = f"{number(fault.reconnect_p50_ms)} / {number(fault.reconnect_max_ms)}"
    if emulated:
        rss = "emulator"  # the local emulator's memory is not what AWS runs
    elif fault.rss_before_bytes is None and fault.rss_peak_bytes is None:
        rss = DASH
    else:
        rss = f"{megabytes(fault.rss_before_bytes)} → {megabytes(fault.rss_peak_bytes)}"
    return FaultRow(
        target=target,
        kind=fault.kind,
        injected=injected,
        server_down=_seconds(fault.server_down_s) if fault.kind == "restart" else DASH,
        reconnects=reconnects,
        reconnect_ms=reconnect_ms,
        recovered=_seconds(fault.recovered_s),
        expected=integer(fault.expected),
        lost=_lost(fault),
        lost_note=(
            f"{integer(fault.lost_everywhere)} reached no one" if fault.lost_everywhere else ""
        ),
        duplicated=integer(fault.duplicated),
        late=integer(fault.late),
        rss_mb=rss,
        resume_covers=_resume_covers(fault),
        contradiction=_contradiction(target, fault),
    )


def _late_header(faults: list[FaultOutcome]) -> str:
    thresholds = sorted({fault.late_after_s for fault in faults})
    if len(thresholds) == 1:
        return f"late (> {thresholds[0]:g} s)"
    return f"late (> {' / '.join(f'{t:g}' for t in thresholds)} s)"


def _kind_texts(
    kinds: list[str], targets: list[str], settings: Faults | None
) -> list[tuple[str, str]]:
    """What each fault of the run does and what it should cost each target."""
    resuming = [f"{t} ({_cursor(t)})" for t in targets if _resumes(t)]
    stateless = [t for t in targets if _resumes(t) is False]
    texts = []
    for kind in kinds:
        if kind == "drop":
            text = (
                "the server closes every client connection at once; clients reconnect after "
                "0.5–1.5 s and resume from their cursor where the target can."
            )
            if resuming:
                text += f" With cursor resume, {_names(resuming)} are expected to lose 0."
            polling = [t for t in targets if t in TARGETS and "polling" in TARGETS[t].family]
            if polling:
                text += (
                    f" {_names(polling)} {'opens' if len(polling) == 1 else 'open'} a new "
                    "connection with the next request, so no reconnect is counted there."
                )
            if stateless:
                text += (
                    f" {_names(stateless)} {'has' if len(stateless) == 1 else 'have'} no resume: "
                    "what is published while its clients are away is lost."
                )
        elif kind == "restart":
            text = (
                "the server is killed (kill -9) and started again on the same port. A restart "
                "loses what the in-memory broker held — the history a cursor resumes from and "
                "what was in flight — so every target may lose messages."
            )
        elif kind == "slow":
            who = f"{settings.slow_fraction * 100:g} % of" if settings else "some of"
            how_long = f" for {settings.slow_for_s:g} s" if settings else " for a while"
            text = (
                f"{who} the receivers stop reading{how_long}. Expected: their messages arrive "
                "late, not lost, while the server holds them (see its memory)."
            )
        else:
            text = "not described (a fault kind this report does not know)."
        texts.append((kind, text))
    return texts


def _intro(settings: Faults | None, kinds: list[str]) -> str:
    when = f", {settings.lead_s:g} s into it" if settings else ""
    return (
        f"This run injected {_names(kinds)} into each target listed below, one after another, "
        f"each in its own slot of the measured window{when}. Messages count against the fault "
        "whose slot they were sent in, reconnections against the fault they followed."
    )


def fault_section(data: RunData) -> FaultSection | None:
    """The section, or None when no target of the run had faults injected."""
    run = data.run
    results: list[TargetResult] = [run.targets[t] for t in data.targets if run.targets[t].faults]
    if not results:
        return None
    rate = room_rate_per_s(run.scenario)
    emulated = set(data.serverless)
    rows: list[FaultRow] = []
    for result in results:
        first = result.faults[0]
        first_at = first.injected_at if first.injected_at is not None else first.planned_at
        rows.extend(
            _row(result.target, fault, first_at, emulated=result.target in emulated, rate=rate)
            for fault in result.faults
        )
    kinds = list(dict.fromkeys(fault.kind for result in results for fault in result.faults))
    settings = run.scenario.faults
    everything = [fault for result in results for fault in result.faults]
    return FaultSection(
        intro=_intro(settings, kinds),
        kinds=_kind_texts(kinds, [result.target for result in results], settings),
        late_header=_late_header(everything),
        resume_header=_resume_header(rate),
        rows=rows,
        warnings=[f"{row.contradiction}." for row in rows if row.contradiction],
    )
