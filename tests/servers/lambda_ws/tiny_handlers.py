"""Minimal handlers (standard library only) for tests of the execution environments."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

INIT_PID = os.getpid()  # module-level code runs once per environment (the init phase)
logger = logging.getLogger(__name__)


def hold(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Sleep as long as asked; report which process served the call."""
    time.sleep(float(event.get("sleep_s", 0)))  # tested: a handler that takes as long as asked
    return {"statusCode": 200, "pid": INIT_PID, "request_id": context.aws_request_id}


def fail(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Raise, as a buggy function does."""
    raise ValueError("boom")


def spin(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Busy-loop for `seconds` of wall time; report the CPU time this process got meanwhile."""
    began_wall, began_cpu = time.perf_counter(), time.process_time()
    while time.perf_counter() - began_wall < float(event.get("seconds", 1.0)):
        pass
    return {
        "wall_s": time.perf_counter() - began_wall,
        "cpu_s": time.process_time() - began_cpu,
        "pid": os.getpid(),
    }


def chatter(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Log one record at each of DEBUG and WARNING, as a handler diagnosing itself does."""
    logger.debug("debug from %s", context.aws_request_id)
    logger.warning("warning from %s", context.aws_request_id)
    return {"statusCode": 200}
