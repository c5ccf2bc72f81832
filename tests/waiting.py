"""The one way tests wait: poll a condition until it holds, or fail saying what did not happen.

A test never sleeps to let something happen; it waits for the thing itself, bounded by a
timeout that is generous because the machine is shared (2 cores, server and load generator on
one box).
"""

from __future__ import annotations

import asyncio
import linecache
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

POLL_S = 0.02  # how often a condition is looked at again
TIMEOUT_S = 10.0


def _failure(
    condition: Callable[..., object], what: str | None, timeout_s: float, last: object
) -> AssertionError:
    code = getattr(condition, "__code__", None)
    if what is None and code is not None:  # the line that waits names it, as written
        line = linecache.getline(code.co_filename, code.co_firstlineno).strip()
        what = f"{line} ({Path(code.co_filename).name}:{code.co_firstlineno})"
    what = what or repr(condition)
    return AssertionError(f"not within {timeout_s:g} s: {what} (last seen: {last!r})")


def wait_until(
    condition: Callable[[], T],
    what: str | None = None,
    *,
    timeout_s: float = TIMEOUT_S,
    poll_s: float = POLL_S,
    pause: Callable[[float], object] | None = None,
) -> T:
    """Call `condition` until it returns something truthy, and return that.

    `pause` waits between looks (by default `time.sleep`, looked up at the call: gevent's
    where Locust has patched it); a browser page's own wait lets its events run meanwhile.

    Raises:
        AssertionError: after `timeout_s`, naming `what` (by default the caller's line) and
            the last value seen.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _failure(condition, what, timeout_s, value)
        (pause or time.sleep)(poll_s)


async def wait_until_async(
    condition: Callable[[], T | Awaitable[T]],
    what: str | None = None,
    *,
    timeout_s: float = TIMEOUT_S,
    poll_s: float = POLL_S,
) -> T:
    """`wait_until` inside an event loop; `condition` may be a plain or an async callable.

    Raises:
        AssertionError: naming `what` and the last value seen, after `timeout_s`.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _failure(condition, what, timeout_s, value)
        await asyncio.sleep(poll_s)  # the poll interval of the one wait helper
