"""`tbench run --url`: the one-target rule (measuring given targets: test_run_target_urls.py)."""

from __future__ import annotations

from pathlib import Path

from .tbench_cli import tbench_run


def test_url_takes_exactly_one_target(tmp_path: Path):
    done = tbench_run(
        tmp_path, "--targets", "sse,websocket", "--url", "http://127.0.0.1:9", timeout_s=60
    )
    assert done.returncode == 2
    assert "exactly one target" in done.stderr
