"""Coordinated omission: a stalled publisher shows in the schedule-based latency only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from loadtests.schedule_stamp import intended_at, stamped_body

SCRIPT = Path(__file__).parent / "fixtures" / "stalled_publisher.py"
REPO = Path(__file__).parents[2]
STALL_S = 1.0
RATE_PER_S = 20.0
PUBLISH_S = 1.5


def test_stamp_round_trips_and_keeps_the_body_size() -> None:
    body = stamped_body(1_764_000_000.123456, 256)
    assert len(body.encode()) == 256
    assert intended_at(body) == 1_764_000_000.123456


def test_bodies_without_a_stamp_have_no_intended_time() -> None:
    for body in ("", "hello", "@", "@nan|", "@inf|x", "@12x|", "@" + "1" * 40 + "|", None, 5):
        assert intended_at(body) is None


def test_a_stalled_publisher_shows_in_the_scheduled_latency_not_the_sent_one() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(STALL_S), str(RATE_PER_S), str(PUBLISH_S)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    sent, delivery, scheduled = result["sent"], result["delivery"], result["scheduled"]
    interval_ms = 1000.0 / RATE_PER_S
    # open loop: the messages due during the stall were all sent, late, after it
    assert sent >= PUBLISH_S * RATE_PER_S - 2
    assert delivery["count"] == scheduled["count"] == sent
    # from the actual send, delivery (a function call) looks instant: the stall is hidden
    assert delivery["max_ms"] < STALL_S * 1000 / 4
    # from the schedule, the message due right after the first one waited out the stall
    assert scheduled["max_ms"] >= STALL_S * 1000 - 2 * interval_ms
    assert scheduled["p50_ms"] > delivery["p50_ms"]
