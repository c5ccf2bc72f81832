"""Compose mode: `tbench run --target-url NAME=URL` measures several running targets."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract.results import TargetStatus, load_run
from tbench.process import TargetProcess
from tbench.runner.targets import parse_target_urls

from .tbench_cli import tbench_run

pytestmark = pytest.mark.slow  # starts servers or runs: not in `make test-fast`


def test_pairs_become_a_mapping():
    urls = parse_target_urls(["sse=http://sse:8000", " websocket = ws://websocket:8000/ws "])
    assert urls == {"sse": "http://sse:8000", "websocket": "ws://websocket:8000/ws"}


@pytest.mark.parametrize(
    ("pair", "complaint"),
    [
        ("sse", "expected NAME=URL"),
        ("sse=", "expected NAME=URL"),
        ("smoke-signals=http://x:1", "unknown target"),
    ],
)
def test_bad_pairs_are_refused_saying_why(pair: str, complaint: str):
    with pytest.raises(ValueError, match=complaint):
        parse_target_urls([pair])


def test_one_target_with_two_urls_is_refused():
    with pytest.raises(ValueError, match="twice"):
        parse_target_urls(["sse=http://a:1", "sse=http://b:1"])


def test_given_targets_are_verified_measured_and_left_running(
    tmp_path: Path, short_polling_server: TargetProcess, websocket_server: TargetProcess
):
    done = tbench_run(
        tmp_path,
        "--scenario",
        "smoke",
        "--targets",
        "short-polling,websocket",
        "--target-url",
        f"short-polling={short_polling_server.url}",
        "--target-url",
        f"websocket={websocket_server.url}",
        "--target-url",
        "sse=http://127.0.0.1:9",  # a URL for a target not selected is not used
        "--run-id",
        "compose",
        "--no-report",
        timeout_s=150,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = load_run(tmp_path / "compose")
    assert list(run.targets) == ["short-polling", "websocket"]
    for name, server in (("short-polling", short_polling_server), ("websocket", websocket_server)):
        result = run.targets[name]
        assert result.status is TargetStatus.OK, result.error
        assert result.url == server.url
        assert result.verification is not None
        assert result.verification is not None
        assert result.verification.passed
        assert result.metrics["delivered"] == result.metrics["expected"] > 0
        assert "server_cpu_s" not in result.metrics  # not started here: not sampled with psutil
        assert server.alive()


def test_docker_stats_needs_given_targets(tmp_path: Path):
    done = tbench_run(tmp_path, "--targets", "sse", "--docker-stats", timeout_s=60)
    assert done.returncode == 2
    assert "--docker-stats" in done.stderr
