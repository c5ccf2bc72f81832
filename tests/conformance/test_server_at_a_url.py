"""A server at a URL says its settings on /healthz, and verify's checks go by them."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from conformance.checks.slow_consumer import messages_needed
from conformance.context import CheckContext, ServerFacts
from conformance.result import Status
from conformance.runner import run_checks
from contract.registry import get_target
from tbench.process import TargetProcess

pytestmark = pytest.mark.slow  # starts servers or runs: not in `make test-fast`

SETTINGS = ("--queue-size", "48", "--sse-ping-s", "0.5", "--history-size", "300")


@pytest.fixture(scope="module")
def sse_server():
    with TargetProcess(get_target("sse"), extra_args=SETTINGS) as server:
        yield server


async def known(url: str, facts: ServerFacts) -> ServerFacts:
    async with httpx.AsyncClient() as http:
        return await CheckContext(get_target("sse"), url, http, facts).known_facts()


def test_facts_missing_are_read_from_healthz(sse_server: TargetProcess):
    told = asyncio.run(known(sse_server.url, ServerFacts()))
    assert told == ServerFacts(
        sse_ping_s=0.5, queue_size=48, history_size=300, history_max_age_s=60.0
    )


def test_facts_verify_knows_are_not_replaced(sse_server: TargetProcess):
    told = asyncio.run(known(sse_server.url, ServerFacts(pid=1, queue_size=7)))
    assert (told.pid, told.queue_size, told.history_size) == (1, 7, 300)


def test_checks_of_a_server_at_a_url_size_themselves_by_what_it_says(sse_server: TargetProcess):
    checks = ["history-lost", "sse-keep-alive", "slow-consumer"]
    results = asyncio.run(run_checks(get_target("sse"), sse_server.url, only=checks))
    by_check = {result.check: result for result in results}
    for result in results:
        assert result.status is Status.PASS, f"{result.check}: {result.reason}"
    assert "history bound 300" in by_check["history-lost"].reason
    assert by_check["sse-keep-alive"].duration_s < 3.0  # the 0.5 s interval, not 15 s
    # published for a queue of 48, not the 1,024 a server that does not say is assumed to have
    assert f"of {messages_needed(48)} messages" in by_check["slow-consumer"].reason
