"""The log level a run's processes share: chosen once (`tbench --log-level`) and inherited by
the children it starts (targets, the emulator, Locust) through TBENCH_LOG_LEVEL."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Literal, get_args

LOG_LEVEL_ENV = "TBENCH_LOG_LEVEL"
LevelName = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LEVELS: tuple[LevelName, ...] = get_args(LevelName)
# Warnings and worse: the terminal belongs to the live display and the result tables, and a
# target's own uvicorn logs at "warning" (servers.launch holds that equal for every target).
DEFAULT_LEVEL: LevelName = "WARNING"
# One line a record in a child's log file: when, how bad, which module, what.
RECORD_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# This project's top-level packages (pyproject.toml's import-linter root_packages): they log at
# the chosen level, libraries at WARNING or worse. At DEBUG, httpcore logs every request's
# steps and websockets every frame, which would bury this project's records and load a target.
PACKAGES = (
    "contract", "servers", "conformance", "loadtests", "cost_model", "analysis", "reports",
    "tbench", "devtools", "benchmarks",
)  # fmt: skip


class LogLevelError(ValueError):
    """A log level that is none of LEVELS."""


def parse_level(text: str) -> LevelName:
    """The level's name in capitals; LogLevelError, naming the valid ones, if it is not one."""
    name = text.strip().upper()
    for level in LEVELS:
        if level == name:
            return level
    raise LogLevelError(f"{LOG_LEVEL_ENV}={text!r} is not one of {', '.join(LEVELS)}")


def level_from_env(environ: Mapping[str, str] = os.environ) -> LevelName:
    """TBENCH_LOG_LEVEL's level, DEFAULT_LEVEL when it is unset or empty; LogLevelError if bad."""
    text = environ.get(LOG_LEVEL_ENV, "")
    return parse_level(text) if text.strip() else DEFAULT_LEVEL


def apply_level(level: LevelName) -> None:
    """Set this project's loggers to `level`, and the root (libraries) to it or WARNING."""
    for package in PACKAGES:
        logging.getLogger(package).setLevel(level)
    logging.getLogger().setLevel(max(logging.getLevelNamesMapping()[level], logging.WARNING))


def log_to_stderr(environ: Mapping[str, str] = os.environ) -> LevelName:
    """Send this process's log records to stderr at TBENCH_LOG_LEVEL's level; returns the level.

    A child's set-up (its stderr is the log file its parent keeps); LogLevelError if the level
    is bad.
    """
    level = level_from_env(environ)
    logging.basicConfig(format=RECORD_FORMAT, stream=sys.stderr)
    apply_level(level)
    return level
