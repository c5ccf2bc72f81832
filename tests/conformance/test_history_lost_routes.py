"""The history-lost check passes a server's bound the quicker way: past its count, or past its
age when publishing that many would take longer; both bounds read from `/healthz`."""

from __future__ import annotations

import asyncio

from conformance.result import Status
from conformance.runner import run_checks
from contract.registry import get_target
from tbench.process import TargetProcess


def _history_lost(target: str, *bounds: str) -> tuple[Status, str]:
    spec = get_target(target)
    with TargetProcess(spec, extra_args=bounds) as server:
        (result,) = asyncio.run(run_checks(spec, server.url, only=["history-lost"]))
    return result.status, result.reason


def test_a_small_count_is_passed_by_publishing():
    status, reason = _history_lost(
        "websocket", "--history-size", "100", "--history-max-age-s", "60"
    )
    assert status is Status.PASS, reason
    assert "(history bound 100)" in reason


def test_a_short_age_is_waited_out_rather_than_publishing_a_huge_count():
    status, reason = _history_lost("sse", "--history-size", "1000000", "--history-max-age-s", "2")
    assert status is Status.PASS, reason
    assert "after the age bound of 2 s passed" in reason
    assert "after 42 more messages" in reason  # a batch of 32, then 10 once the age passed
