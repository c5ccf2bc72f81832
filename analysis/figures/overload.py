"""Overload (`tbench run --scenario overload`): offered and delivered load and p99 over time."""

from __future__ import annotations

from matplotlib.figure import Figure

from analysis.figures.style import FONT_SIZE, new_figure, require
from analysis.load import RunData
from analysis.palette import NEUTRAL, colour_of
from contract.overload import OverloadOutcome


def overload_outcomes(data: RunData) -> dict[str, OverloadOutcome]:
    """The targets that ran an overload, with their outcome."""
    outcomes = {}
    for key in data.measured:
        outcome = data.run.targets[key].overload
        if outcome is not None and outcome.phases:
            outcomes[key] = outcome
    return outcomes


def overload_timeline(data: RunData) -> Figure:
    """Per target: deliveries a second offered (dashed, by phase) and delivered (solid, by the
    tick each message was sent in), and each tick's delivery p99 against the SLO."""
    outcomes = overload_outcomes(data)
    require(bool(outcomes), "no target ran an overload (tbench run --scenario overload)")
    figure, (load_ax, p99_ax) = new_figure(4.6, nrows=2)
    slo = None
    for key, outcome in outcomes.items():
        colour = colour_of(data.run.targets[key].target)
        origin = outcome.phases[0].start
        tick_s = outcome.ticks[1].start - outcome.ticks[0].start if len(outcome.ticks) > 1 else 1.0
        times = [tick.start - origin for tick in outcome.ticks]
        load_ax.plot(
            times, [tick.delivered / tick_s for tick in outcome.ticks], color=colour, label=key
        )
        steps_x = [
            x for phase in outcome.phases for x in (phase.start - origin, phase.end - origin)
        ]
        steps_y = [y for phase in outcome.phases for y in (phase.offered_per_s,) * 2]
        load_ax.plot(steps_x, steps_y, color=colour, linestyle="--", linewidth=0.9)
        with_p99 = [(t, tick.p99_ms) for t, tick in zip(times, outcome.ticks, strict=True)]
        p99_ax.plot(
            [t for t, p99 in with_p99 if p99 is not None],
            [p99 for _, p99 in with_p99 if p99 is not None],
            color=colour,
            marker=".",
            markersize=3,
            label=key,
        )
        slo = outcome.slo_p99_ms  # the line: the SLO itself (short polling's floor is over it)
    first = next(iter(outcomes.values()))
    for phase in first.phases:
        start = phase.start - first.phases[0].start
        for ax in (load_ax, p99_ax):
            ax.axvline(start, color=NEUTRAL, linewidth=0.6, linestyle=":")
        load_ax.annotate(
            phase.name.replace("x", "×"),
            (start, 1.0),
            xycoords=("data", "axes fraction"),
            fontsize=FONT_SIZE - 1,
            va="top",
            ha="left",
        )
    if slo is not None:
        p99_ax.axhline(slo, color=NEUTRAL, linestyle="--", linewidth=0.8)
    load_ax.set_ylabel("deliveries/s (dashed: offered)")
    load_ax.set_yscale("log")  # transports a hundred times apart share the axis
    load_ax.legend(fontsize=FONT_SIZE - 1, loc="upper right")
    p99_ax.set_yscale("log")
    p99_ax.set_ylabel("delivery p99 (ms)")
    p99_ax.set_xlabel("seconds from the knee phase's start (by send time)")
    return figure
