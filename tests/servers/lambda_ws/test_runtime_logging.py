"""A handler's log records reach the environment's log at the run's level, as on AWS."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from contract import log_level
from servers.lambda_ws import runtime

pytestmark = pytest.mark.timeout(60)

MODULE = "tests.servers.lambda_ws.tiny_handlers"


def invoke_chatter(env: dict[str, str]) -> str:
    """One invocation of tiny_handlers.chatter in a real runtime process; its stderr."""
    requests = io.BytesIO()
    request = {"event": {}, "function_arn": "arn", "request_id": "req-1", "deadline_ms": 9e15}
    runtime.write_message(requests, request)
    done = subprocess.run(
        [sys.executable, "-m", runtime.__name__, MODULE, "chatter"],
        input=requests.getvalue(),
        capture_output=True,
        env=env,
        timeout=30,
        check=True,
    )
    replies = io.BytesIO(done.stdout)
    assert runtime.read_message(replies) is not None  # ready
    reply = runtime.read_message(replies)
    assert reply is not None
    assert reply["error"] is None, reply
    return done.stderr.decode()


def test_the_runtime_copies_equal_the_contract() -> None:
    assert runtime.LOG_LEVEL_ENV == log_level.LOG_LEVEL_ENV
    assert runtime.DEFAULT_LOG_LEVEL == log_level.DEFAULT_LEVEL


def test_a_handler_warning_is_logged_and_its_debug_hidden_by_default() -> None:
    stderr = invoke_chatter({})
    assert "[WARNING]" in stderr
    assert "warning from req-1" in stderr
    assert "debug from" not in stderr


def test_the_run_level_reaches_the_handler() -> None:
    stderr = invoke_chatter({log_level.LOG_LEVEL_ENV: "DEBUG"})
    assert "[DEBUG]" in stderr
    assert "debug from req-1" in stderr
