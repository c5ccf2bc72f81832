"""Capacity ramps with round numbers, for the tests that read capacity and plan from it."""

from __future__ import annotations

from contract.capacity import CapacityStep


def ramp(
    *points: tuple[float, float, bool], users_per_step: int = 100, rss_mb_per_step: float = 10.0
) -> tuple[CapacityStep, ...]:
    """Steps of (delivered/s, p99 ms, passed), each `users_per_step` more users and
    `rss_mb_per_step` more RSS over a 50 MB server."""
    return tuple(
        CapacityStep(
            step=index,
            rooms=index,
            users=index * users_per_step,
            offered_per_s=delivered,
            delivered_per_s=delivered,
            p99_ms=p99,
            server_rss_mb=50.0 + index * rss_mb_per_step,
            connections=index * users_per_step,
            passed=passed,
        )
        for index, (delivered, p99, passed) in enumerate(points, start=1)
    )
