"""`tbench --log-level`: debug records when asked, hidden by default, a bad level refused; the
level reaches the processes tbench starts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contract.log_level import (
    DEFAULT_LEVEL,
    LEVELS,
    LOG_LEVEL_ENV,
    PACKAGES,
    LogLevelError,
    level_from_env,
    parse_level,
)
from tbench.cli import app
from tbench.runner.locust_process import locust_log_level

ROOT = Path(__file__).resolve().parents[2]


def test_levels_are_read_in_any_case_and_default_to_warning() -> None:
    assert parse_level(" debug ") == "DEBUG"
    assert level_from_env({}) == DEFAULT_LEVEL == "WARNING"
    assert level_from_env({LOG_LEVEL_ENV: ""}) == DEFAULT_LEVEL
    assert level_from_env({LOG_LEVEL_ENV: "Error"}) == "ERROR"
    with pytest.raises(LogLevelError, match="'loud' is not one of DEBUG, INFO, WARNING"):
        level_from_env({LOG_LEVEL_ENV: "loud"})
    assert LEVELS == ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def test_the_packages_that_follow_the_level_are_the_projects() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert set(PACKAGES) == set(config["tool"]["importlinter"]["root_packages"])


def test_locust_follows_a_chosen_level_and_keeps_its_own_info_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(LOG_LEVEL_ENV, raising=False)
    assert locust_log_level() == {}
    monkeypatch.setenv(LOG_LEVEL_ENV, "DEBUG")
    assert locust_log_level() == {"LOCUST_LOGLEVEL": "DEBUG"}


@pytest.mark.parametrize(
    ("args", "env"),
    [(["--log-level", "LOUD", "targets"], {}), (["targets"], {LOG_LEVEL_ENV: "loud"})],
)
def test_a_bad_level_is_refused_naming_the_option_and_the_levels(
    args: list[str], env: dict[str, str]
) -> None:
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "Invalid value for '--log-level'" in text
    assert "is not one of 'debug', 'info', 'warning', 'error', 'critical'" in text


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port something already listens on: a target started there exits at once."""
    with socket.create_server(("127.0.0.1", 0)) as held:
        yield held.getsockname()[1]


def serve_on(port: int, *options: str) -> subprocess.CompletedProcess[str]:
    """`tbench [options] serve short-polling --port PORT` as a user runs it; stderr unwrapped."""
    env = {name: value for name, value in os.environ.items() if name != LOG_LEVEL_ENV}
    argv = [sys.executable, "-m", "tbench.cli", *options, "serve", "short-polling"]
    done = subprocess.run(
        [*argv, "--port", str(port)], capture_output=True, text=True, env=env, timeout=60
    )
    done.stderr = " ".join(done.stderr.split())
    return done


def test_debug_shows_tbench_and_the_target_debug_records(busy_port: int) -> None:
    done = serve_on(busy_port, "--log-level", "DEBUG")
    assert done.returncode == 1
    assert "DEBUG tbench.process: starting" in done.stderr  # this process, through rich
    # the target's own record, in the log tail the failure shows: it inherited the level
    assert "DEBUG servers.launch: serving servers.short_polling:app" in done.stderr
    assert "address already in use" in done.stderr


def test_by_default_debug_records_are_hidden(busy_port: int) -> None:
    done = serve_on(busy_port)
    assert done.returncode == 1
    assert "short-polling: server exited" in done.stderr
    assert "address already in use" in done.stderr
    assert "DEBUG" not in done.stderr
