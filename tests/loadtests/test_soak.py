"""`make soak`'s check, cheaply: the same scenario with a tiny history holds a flat RSS line,
and with history bounded by neither bound in reach its growth trips the check.

One websocket server per case, ~25 s each: a few rooms publishing 20 KB messages at 100 msg/s,
so a history of 50 messages a room is full in a second, while one of a million grows ~2 MB/s.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from contract.results import FLAG_SOAK_GREW, TargetStatus, load_run

from .tbench_cli import tbench_run

pytestmark = pytest.mark.slow  # starts servers or runs: not in `make test-fast`

SCENARIO = """
description = "soak in brief: 2 rooms × 5 users, everyone publishes 20 KB at 10 msg/s"
rooms = 2
users_per_room = 5
publisher_fraction = 1.0
publish_rate_per_s = 10.0
payload_bytes = 20000
poll_interval_s = 0.5
spawn_rate = 50.0
settle_s = 0.5
warmup_s = 4.0
duration_s = 14.0
drain_s = 1.0

[soak]
max_rss_growth_percent = 5.0
sample_window_s = 3.0
"""


def _soak(tmp_path: Path, history_size: int, monkeypatch: pytest.MonkeyPatch):
    scenario = tmp_path / "soak-brief.toml"
    scenario.write_text(SCENARIO)
    monkeypatch.setenv("TBENCH_HISTORY_SIZE", str(history_size))  # the servers inherit it
    out = tmp_path / "results"
    args = ("--scenario", str(scenario), "--targets", "websocket", "--no-verify")
    done = tbench_run(out, *args, "--run-id", "soak", timeout_s=90)
    return done, load_run(out / "soak").targets["websocket"]


def test_a_bounded_history_holds_rss_flat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    done, result = _soak(tmp_path, 50, monkeypatch)
    assert result.status is TargetStatus.OK, result.error
    soak = result.soak
    assert soak is not None
    assert done.returncode == 0, done.stdout[-2000:]
    assert soak.passed
    assert "soak passed: websocket" in done.stdout
    assert soak.rss_start_bytes < soak.rss_after_warmup_bytes  # connections came in between
    assert abs(soak.growth_percent) < soak.max_growth_percent
    assert result.metrics["server_retained_messages_max"] == 2 * 50  # both rooms' rings full


def test_an_unbounded_history_trips_the_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    done, result = _soak(tmp_path, 1_000_000, monkeypatch)
    soak = result.soak
    assert soak is not None
    assert not soak.passed
    assert soak.growth_percent > soak.max_growth_percent
    assert FLAG_SOAK_GREW in result.flags
    assert done.returncode == 1
    # the message names the target and both readings
    assert "soak FAILED: websocket: RSS" in done.stdout
    assert f"{soak.rss_after_warmup_bytes / 1e6:.1f} MB after warm-up" in done.stdout
    # what history held is what grew: RSS per retained message is measured, near what
    # benchmarks.retained_memory gives for a 20 KB body (its encoding, ~20 KB, and no copy)
    per_message = result.metrics["server_rss_per_retained_message_bytes"]
    assert per_message is not None
    assert 15_000 < per_message < 40_000
