"""Resource summaries across a restarted server (`--faults restart`): CPU keeps counting."""

from __future__ import annotations

from tbench.runner.resources import COLUMNS, ResourceSeries, summarize


def _row(when: float, cpu_s: float, rss: int) -> dict[str, float]:
    row = dict.fromkeys(COLUMNS, 0.0)
    row.update(time=when, server_processes=1, server_cpu_s=cpu_s, server_rss_bytes=rss)
    return row


def test_server_cpu_adds_the_restarted_process_to_the_killed_one():
    # 0.5 CPU s per second; killed after t=4 (2.0 s used), the new process counts from 0
    rows = [_row(t, 0.5 * t, 50_000_000) for t in range(5)]
    rows += [_row(5 + t, 0.5 * t, 40_000_000) for t in range(5)]
    summary = summarize(ResourceSeries(rows=rows), 0.0, 9.0)
    # 2.0 s before the kill + 2.0 s after; the interval across the kill itself is not seen
    assert summary["server_cpu_s"] == 4.0
    assert summary["server_rss_max_bytes"] == 50_000_000
