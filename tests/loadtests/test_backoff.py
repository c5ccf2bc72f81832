"""Backoff: ×2 per consecutive failure, jittered ±50 %, capped, a server's hint as a floor."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from loadtests.backoff import CAP_S, Backoff, retry_after_s


class Edge:
    """A random source that always draws the low (or the high) end of the range."""

    def __init__(self, high: bool) -> None:
        self.high = high

    def uniform(self, a: float, b: float, /) -> float:
        return b if self.high else a


def test_the_first_retry_is_within_the_old_pause_and_jitter():
    # the faults scenario's recovery slot counts on a dropped client back within 1.5 s
    assert Backoff(rng=Edge(high=False)).next_delay() == 0.5
    assert Backoff(rng=Edge(high=True)).next_delay() == 1.5
    seeded = random.Random(7)
    assert all(0.5 <= Backoff(rng=seeded).next_delay() <= 1.5 for _ in range(1000))


def test_delays_double_per_consecutive_failure_up_to_the_cap():
    low, high = Backoff(rng=Edge(high=False)), Backoff(rng=Edge(high=True))
    lows = [low.next_delay() for _ in range(8)]
    highs = [high.next_delay() for _ in range(8)]
    assert lows == [0.5, 1, 2, 4, 8, 15, 15, 15]  # half the nominal 1, 2, 4 ... capped at 30
    assert highs == [1.5, 3, 6, 12, 24, 30, 30, 30]  # 1.5 × nominal, held to the cap


def test_jitter_spreads_a_crowd_within_its_bounds():
    seeded = random.Random(1)
    third = [Backoff(rng=seeded) for _ in range(500)]
    draws = [[b.next_delay() for _ in range(3)][-1] for b in third]  # nominal 4 s
    assert all(2.0 <= d <= 6.0 for d in draws)
    assert max(draws) - min(draws) > 3.0  # spread, not one instant


def test_a_hint_is_a_floor_with_jitter_above_it():
    assert Backoff(rng=Edge(high=False)).next_delay(hint_s=5.0) == 5.0
    assert Backoff(rng=Edge(high=True)).next_delay(hint_s=5.0) == 7.5
    # a hint shorter than the backoff does not shorten it
    backoff = Backoff(rng=Edge(high=False))
    for _ in range(5):
        backoff.next_delay()
    assert backoff.next_delay(hint_s=1.0) == 15.0


def test_even_a_hint_is_held_to_the_cap():
    assert Backoff(rng=Edge(high=False)).next_delay(hint_s=3600.0) == CAP_S


def test_reset_after_a_success_starts_over():
    backoff = Backoff(rng=Edge(high=True))
    for _ in range(4):
        backoff.next_delay()
    assert backoff.failures == 4
    backoff.reset()
    assert backoff.failures == 0
    assert backoff.next_delay() == 1.5


def test_bad_bounds_are_refused():
    with pytest.raises(ValueError, match="first_s <= cap_s"):
        Backoff(first_s=10.0, cap_s=5.0)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("5", 5.0), (" 120 ", 120.0), (None, None), ("soon", None), ("-1", None), ("1.5", None)],
)
def test_retry_after_in_seconds(value: str | None, seconds: float | None):
    assert retry_after_s(value) == seconds


def test_retry_after_as_an_http_date():
    now = 1_700_000_000.0
    later = format_datetime(datetime.fromtimestamp(now + 42, UTC), usegmt=True)
    earlier = format_datetime(datetime.fromtimestamp(now - 42, UTC), usegmt=True)
    assert retry_after_s(later, now=now) == 42.0
    assert retry_after_s(earlier, now=now) == 0.0
