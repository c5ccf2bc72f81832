"""The CLI's log records on the terminal, through rich, at the level the user chose."""

from __future__ import annotations

import logging
import os

from rich.console import Console
from rich.logging import RichHandler

from contract.log_level import DEFAULT_LEVEL, LOG_LEVEL_ENV, LevelName, apply_level


def log_to_console(level: LevelName | None, console: Console) -> None:
    """Show records at `level` (DEFAULT_LEVEL if None) on `console`; export a chosen level.

    Exported as TBENCH_LOG_LEVEL, so the processes the command starts (targets, the emulator,
    Locust) log at the same level.
    """
    if level is not None:
        os.environ[LOG_LEVEL_ENV] = level
    logging.basicConfig(
        format="%(name)s: %(message)s",
        handlers=[RichHandler(console=console, show_path=False, log_time_format="[%X]")],
        force=True,  # this configuration replaces any a library made on import
    )
    apply_level(level or DEFAULT_LEVEL)
