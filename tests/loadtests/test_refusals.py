"""Refused clients: a user of each family against a real target at its cap counts the
server's answer by kind, has no receive log while refused, honours Retry-After, and joins
once a slot is free."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from contract.registry import get_target
from servers.capacity import RETRY_AFTER_S
from tbench.process import TargetProcess

pytestmark = pytest.mark.slow  # starts servers or runs: not in `make test-fast`

SCRIPT_MODULE = "tests.loadtests.fixtures.refused_users"
ROOT = Path(__file__).resolve().parents[2]
TARGETS = {"long-polling": "http_503", "sse": "http_503", "websocket": "ws_1013"}
FIRST_RETRY_MAX_S = 1.5  # the backoff's first delay, without a hint
SCRIPT_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def refused() -> Iterator[dict[str, dict[str, Any]]]:
    """Each target started with one connection allowed; what its refused user saw."""
    with ExitStack() as stack:
        where = {}
        for name in TARGETS:
            extra: tuple[str, ...] = ("--max-connections", "1")
            if name == "long-polling":
                extra += ("--long-poll-max-wait-s", "60")  # the held poll stays held
            server = stack.enter_context(
                TargetProcess(get_target(name), extra_args=extra).start(timeout_s=30)
            )
            where[name] = [server.url, f"http://{server.host}:{server.port}"]
        done = subprocess.run(
            [sys.executable, "-m", SCRIPT_MODULE, json.dumps(where)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT_S,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        yield json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("name", "kind"), TARGETS.items())
def test_a_refused_join_counts_the_servers_answer_and_no_receive_log(
    refused: dict[str, dict[str, Any]], name: str, kind: str
):
    seen = refused[name]
    counts = {k: v for k, v in seen["refusals"].items() if v and k != "attempts"}
    assert counts == {kind: 1}
    assert seen["refusals"]["attempts"] == 2  # refused, then joined
    assert seen["receivers_when_refused"] == 0  # refused at its first join: nothing expected
    assert seen["receivers_when_joined"] == 1


@pytest.mark.parametrize("name", ["long-polling", "sse"])
def test_retry_after_is_honoured(refused: dict[str, dict[str, Any]], name: str):
    [gap] = refused[name]["attempt_gaps_s"]
    assert gap >= RETRY_AFTER_S  # not the backoff's first 0.5-1.5 s
    assert gap <= RETRY_AFTER_S * 1.5 + 1.0  # the hint is a floor, jittered up to half more


def test_without_a_hint_the_first_retry_is_the_backoffs(refused: dict[str, dict[str, Any]]):
    [gap] = refused["websocket"]["attempt_gaps_s"]
    assert gap <= FIRST_RETRY_MAX_S + 0.5  # + the join's own time (it waits 0.1 s for a 1013)
