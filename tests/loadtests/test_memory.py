"""Memory figures: RSS per connection does not grow with the run's length; history's share is
measured apart (tbench/runner/memory.py), on sample rows of known make-up."""

from __future__ import annotations

import math

from tbench.runner.memory import (
    RETAINED_COLUMN,
    attach_retained,
    memory_figures,
    rss_per_retained_across,
)
from tbench.runner.resources import ResourceSeries, summarize

BASE = 50_000_000  # bytes before any client
PER_CONNECTION = 20_000
PER_MESSAGE = 600
CONNECTIONS = 500


def _rows(publishing_s: int, *, rate: int = 20, ripple: int = 30_000) -> list[dict[str, float]]:
    """One sample a second: 5 s of joins, then `rate` messages a second kept; RSS the sum of
    its parts plus an alternating ripple (allocator noise)."""
    rows = [
        {
            "time": 0.0,
            "server_processes": 1,
            "server_rss_bytes": BASE,
            "server_connections": 0,
            RETAINED_COLUMN: 0,
        }
    ]
    for second in range(1, 6 + publishing_s):
        joined = min(CONNECTIONS, second * 100)
        kept = max(0, second - 5) * rate
        rss = BASE + joined * PER_CONNECTION + kept * PER_MESSAGE + (ripple if second % 2 else 0)
        rows.append(
            {
                "time": float(second),
                "server_processes": 1,
                "server_rss_bytes": rss,
                "server_connections": joined,
                RETAINED_COLUMN: kept,
            }
        )
    return rows


def test_per_connection_stays_put_however_long_the_run():
    short, long = _rows(60), _rows(600)
    figures = [memory_figures(rows, end=rows[-1]["time"]) for rows in (short, long)]
    for figure in figures:
        assert figure.per_retained_message_bytes is not None
        assert abs(figure.per_retained_message_bytes - PER_MESSAGE) < 60
        assert figure.per_connection_bytes is not None
        assert abs(figure.per_connection_bytes - PER_CONNECTION) < 0.05 * PER_CONNECTION
    # the old figure, history in, grows with the run: 21.5 KB over 1 min, 34.5 KB over 10
    for rows in (short, long):
        for row in rows:
            row |= {
                "server_cpu_s": 0,
                "server_cpu_percent": 0,
                "server_fds": 0,
                "server_threads": 1,
            }
    old = [summarize(ResourceSeries(rows), 0, rows[-1]["time"]) for rows in (short, long)]
    growth = old[1]["server_rss_per_connection_bytes"] / old[0]["server_rss_per_connection_bytes"]
    assert growth > 1.5


def test_without_a_slope_only_samples_with_an_empty_history_count():
    rows = _rows(10, rate=5)  # 50 messages: too few for a slope
    figure = memory_figures(rows, end=rows[-1]["time"])
    assert figure.per_retained_message_bytes is None
    # from the joined-but-silent sample (second 5): connections alone, plus its ripple
    assert figure.per_connection_bytes == PER_CONNECTION + 30_000 // CONNECTIONS


def test_retained_is_the_latest_probe_before_each_sample():
    rows = [{"time": t} for t in (0.5, 1.5, 2.5)]
    attach_retained(rows, [(1.0, 7), (2.0, 9)])
    assert [row[RETAINED_COLUMN] for row in rows] == [0, 7, 9]
    attach_retained(rows, [])  # a target that never told: not measured
    assert all(math.isnan(row[RETAINED_COLUMN]) for row in rows)


def test_a_ramp_s_fit_tells_messages_from_connections():
    # a capacity ramp: connections grow 1.5x a step while history fills at a growing rate
    rows, connections, kept = [], 100.0, 0.0
    for second in range(60):
        if second % 6 == 0:
            connections = round(connections * 1.5)
        kept += connections / 50 * 2  # rooms of 50, one publisher at 2 msg/s
        rss = BASE + connections * PER_CONNECTION + kept * PER_MESSAGE + (second % 3) * 20_000
        rows.append(
            {
                "time": float(second),
                "server_processes": 1,
                "server_rss_bytes": rss,
                "server_connections": connections,
                RETAINED_COLUMN: kept,
            }
        )
    per_message = rss_per_retained_across(rows, end=59.0)
    assert per_message is not None
    assert abs(per_message - PER_MESSAGE) < 0.1 * PER_MESSAGE
    assert rss_per_retained_across(rows[:3], end=59.0) is None  # too few messages to tell
