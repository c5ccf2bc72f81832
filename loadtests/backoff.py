"""When a refused or dropped client tries again: exponential backoff with jitter (sans I/O).

A client that retries on a fixed pause turns a refusal into a retry storm: every refused user
comes back every pause, for as long as the server refuses. Real clients double their wait per
consecutive failure, draw it at random around that (so a drop is not a thundering herd), cap
it, and wait at least as long as the server asked (`Retry-After`, SSE `retry:`).
"""

from __future__ import annotations

import random
import time
from email.utils import parsedate_to_datetime
from typing import Protocol

FIRST_DELAY_S = 1.0  # the first retry is drawn in [0.5, 1.5] s: as the fixed pause + jitter was
CAP_S = 30.0
# A delay is drawn in [nominal × (1 - JITTER), nominal × (1 + JITTER)]: ±50 % around it.
JITTER = 0.5
# A hint is a floor, and drawn up to this much above it: a crowd told "1 s" spreads over 1-1.5 s.
HINT_JITTER = 0.5
MAX_DOUBLINGS = 32  # 2**32 s is past any cap: stop growing the exponent


class RandomSource(Protocol):
    """What a Backoff draws from (`random.Random`, or a fixed source in tests)."""

    def uniform(self, a: float, b: float, /) -> float:
        """A number in [a, b]."""
        ...


class Backoff:
    """The delays of one client's retries: ×2 per consecutive failure, jittered, capped."""

    def __init__(
        self,
        first_s: float = FIRST_DELAY_S,
        cap_s: float = CAP_S,
        rng: RandomSource | None = None,
    ) -> None:
        """Raises ValueError unless 0 < first_s <= cap_s."""
        if not 0 < first_s <= cap_s:
            raise ValueError(f"need 0 < first_s <= cap_s, got {first_s:g} and {cap_s:g}")
        self.first_s = first_s
        self.cap_s = cap_s
        self.rng: RandomSource = rng if rng is not None else random.Random()
        self.failures = 0  # consecutive, since the last reset()

    def next_delay(self, hint_s: float | None = None) -> float:
        """Count one more failure and return how long to wait (s) before the next try.

        The n-th consecutive failure draws around first_s × 2**(n-1); a server's hint (None:
        none given) is a floor. Everything, a hint included, is held to cap_s, so a client is
        never told away for longer than the cap.
        """
        doublings = min(self.failures, MAX_DOUBLINGS)
        self.failures += 1
        nominal = min(self.cap_s, self.first_s * 2.0**doublings)
        delay = self.rng.uniform(nominal * (1 - JITTER), nominal * (1 + JITTER))
        if hint_s is not None and hint_s > 0:
            delay = max(delay, hint_s * self.rng.uniform(1.0, 1.0 + HINT_JITTER))
        return min(delay, self.cap_s)

    def reset(self) -> None:
        """A success: the next failure starts from the first delay again."""
        self.failures = 0


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """A `Retry-After` header as seconds from `now` (epoch s; default: the clock).

    Either delay-seconds or an HTTP-date (RFC 9110 §10.2.3); a date in the past is 0. None
    when the header is missing or neither form.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # a date without a zone: HTTP-dates are GMT
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def sse_retry_s(value: bytes) -> float | None:
    """An event stream's `retry:` field value (milliseconds, ASCII digits only, as an
    EventSource reads it) in seconds; None when it is not one."""
    value = value.strip()
    return int(value) / 1000.0 if value.isdigit() else None
