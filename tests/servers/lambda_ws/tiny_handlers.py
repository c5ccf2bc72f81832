"""Minimal handlers (standard library only) for tests of the execution environments."""

from __future__ import annotations

import os
import time
from typing import Any

INIT_PID = os.getpid()  # module-level code runs once per environment (the init phase)


def hold(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Sleep as long as asked; report which process served the call."""
    time.sleep(float(event.get("sleep_s", 0)))
    return {"statusCode": 200, "pid": INIT_PID, "request_id": context.aws_request_id}


def fail(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Raise, as a buggy function does."""
    raise ValueError("boom")
