"""Memory figures that mean what they say: per connection apart from history, per message kept.

A server's RSS at steady load is its base, plus what each open connection holds, plus what
each message kept in history holds. RSS growth over connections alone counts history in, so it
grows with the run's length until history is full. Here the resource samples (RSS,
connections) are joined with the messages retained (`/healthz`'s `retained`, probed by the
liveness watch), and over the samples with every connection open:

- RSS per retained message = the least-squares slope of RSS over messages retained, when
  retained spanned at least MIN_RETAINED_SPAN messages and the line explains RSS's movement
  (R² ≥ MIN_R_SQUARED; else RSS moved for other reasons, allocator noise above all);
- RSS per connection = the median over those samples of
  (RSS − RSS before any client − retained × RSS per retained message) / connections. Without
  a slope it is taken from the samples where history held nothing yet (all joined, nothing
  published), and without those it is not given. A target that keeps no history (the Lambda
  emulator, or a Redis broker's server, whose history is in Redis) has nothing to take off.

See docs/design.md ("Memory figures").
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy

from contract.soak import SoakResult, SoakRule, soak_result

RETAINED_COLUMN = "server_retained_messages"
MIN_RETAINED_SPAN = 500  # messages: fewer tell a slope from noise only for large messages
MIN_R_SQUARED = 0.8  # a slope is RSS per message only if the line explains RSS's movement
ALL_OPEN = 0.98  # a sample counts as "every connection open" at this share of the peak

Row = dict[str, float]


def attach_retained(rows: Sequence[Row], retained: Sequence[tuple[float, int]]) -> None:
    """Give every resource row the messages retained at its time: the latest probe at or
    before it (0 before the first; NaN throughout when no probe told it: nothing to join)."""
    if not retained:
        for row in rows:
            row[RETAINED_COLUMN] = math.nan
        return
    times = [when for when, _ in retained]
    for row in rows:
        index = bisect.bisect_right(times, row["time"]) - 1
        row[RETAINED_COLUMN] = retained[index][1] if index >= 0 else 0


def _retained(row: Row) -> float:
    """The row's retained messages; 0 where not measured (a target without history here)."""
    value = row.get(RETAINED_COLUMN, math.nan)
    return 0.0 if math.isnan(value) else value


@dataclass(frozen=True, slots=True)
class MemoryFigures:
    """RSS per connection (history off), per retained message, and the most retained."""

    per_connection_bytes: int | None
    per_retained_message_bytes: int | None
    retained_max: int | None


def _line(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Least-squares slope of ys over xs, when positive and the line explains at least
    MIN_R_SQUARED of ys' variance; None otherwise (RSS moved for other reasons)."""
    if len(xs) < 3:  # a line through two points explains anything
        return None
    fit = statistics.linear_regression(xs, ys)
    try:
        r_squared = statistics.correlation(xs, ys) ** 2
    except statistics.StatisticsError:  # xs or ys constant
        return None
    return fit.slope if fit.slope > 0 and r_squared >= MIN_R_SQUARED else None


def memory_figures(rows: Sequence[Row], end: float) -> MemoryFigures:
    """The figures over the samples up to `end` (the measured window's end, epoch s) with every
    connection open; the server's first sample is its base (before any client)."""
    with_server = [row for row in rows if row["server_processes"] > 0]
    known = [
        row[RETAINED_COLUMN] for row in rows if not math.isnan(row.get(RETAINED_COLUMN, math.nan))
    ]
    retained_max = int(max(known)) if known else None
    if not with_server or any(math.isnan(row["server_connections"]) for row in with_server):
        return MemoryFigures(None, None, retained_max)
    base = with_server[0]["server_rss_bytes"]
    until_end = [row for row in with_server if row["time"] <= end]
    peak = max((row["server_connections"] for row in until_end), default=0)
    steady = [row for row in until_end if peak > 0 and row["server_connections"] >= ALL_OPEN * peak]
    if not steady:
        return MemoryFigures(None, None, retained_max)
    counts = [_retained(row) for row in steady]
    per_message = None
    if max(counts) - min(counts) >= MIN_RETAINED_SPAN:
        per_message = _line(counts, [row["server_rss_bytes"] for row in steady])
    if per_message is None:  # no slope to take history off with: only where it held nothing
        steady = [row for row in steady if _retained(row) == 0]
    if not steady:
        return MemoryFigures(None, None, retained_max)
    per_connection = statistics.median(
        (row["server_rss_bytes"] - base - (per_message or 0.0) * _retained(row))
        / row["server_connections"]
        for row in steady
    )
    return MemoryFigures(
        per_connection_bytes=max(0, round(per_connection)),
        per_retained_message_bytes=None if per_message is None else round(per_message),
        retained_max=retained_max,
    )


def rss_per_retained_across(rows: Sequence[Row], end: float) -> float | None:
    """RSS per retained message over samples whose connections vary too (a capacity ramp,
    where no stretch holds them steady): the least-squares fit RSS = a + c × connections +
    b × retained, b returned when retained spanned MIN_RETAINED_SPAN and b came out positive."""
    usable = [
        row
        for row in rows
        if row["server_processes"] > 0
        and row["time"] <= end
        and not math.isnan(row["server_connections"])
        and not math.isnan(row.get(RETAINED_COLUMN, math.nan))
    ]
    counts = [row[RETAINED_COLUMN] for row in usable]
    if len(usable) < 3 or max(counts) - min(counts) < MIN_RETAINED_SPAN:
        return None
    design = numpy.array([[1.0, row["server_connections"], row[RETAINED_COLUMN]] for row in usable])
    rss = numpy.array([row["server_rss_bytes"] for row in usable])
    coefficients, *_ = numpy.linalg.lstsq(design, rss, rcond=None)
    per_message = float(coefficients[2])
    return per_message if per_message > 0 else None


def memory_metrics(rows: Sequence[Row], end: float) -> dict[str, float | int | None]:
    """run.json's memory metrics (names in contract.results.METRICS)."""
    figures = memory_figures(rows, end)
    return {
        "server_rss_per_connection_net_bytes": figures.per_connection_bytes,
        "server_rss_per_retained_message_bytes": figures.per_retained_message_bytes,
        "server_retained_messages_max": figures.retained_max,
    }


def _median_rss(rows: Sequence[Row], start: float, end: float) -> int | None:
    values = [row["server_rss_bytes"] for row in rows if start <= row["time"] <= end]
    return round(statistics.median(values)) if values else None


def soak_of(rule: SoakRule, rows: Sequence[Row], start: float, end: float) -> SoakResult | None:
    """The soak over the measured window [start, end] (epoch s): RSS after warm-up is the
    median over its first `sample_window_s`, at the end over its last; None without samples."""
    with_server = [row for row in rows if row["server_processes"] > 0]
    if not with_server:
        return None
    window = rule.sample_window_s
    after_warmup = _median_rss(with_server, start, start + window)
    at_end = _median_rss(with_server, end - window, end)
    if after_warmup is None or at_end is None:
        return None
    first = int(with_server[0]["server_rss_bytes"])
    return soak_result(rule, first, after_warmup, at_end, end - start)
