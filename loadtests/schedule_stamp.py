"""The intended send time of a message, carried in its body (coordinated omission, as wrk2).

A publisher that falls behind its open-loop schedule sends late, and a latency measured from
the actual send (`sent_at`) hides that stall. The publisher therefore writes the time it was
*meant* to send at the start of the body — `@<epoch s>|` then padding — and receivers measure
from it as well. The body is an opaque string in the wire contract, so every target carries the
stamp unchanged; a body without it (the demo, other clients) has no schedule-based latency.
"""

from __future__ import annotations

import math

from contract.messages import padded_body

STAMP_START = "@"
STAMP_END = "|"
_STAMP_MAX_CHARS = 32  # "@" + an epoch with 6 decimals + "|" is 19 characters


def stamped_body(intended_at: float, payload_bytes: int) -> str:
    """A body of `payload_bytes` ASCII bytes (at least the stamp) starting with the stamp."""
    return padded_body(payload_bytes, f"{STAMP_START}{intended_at:.6f}{STAMP_END}")


def intended_at(body: object) -> float | None:
    """The intended send time stamped in a body, or None if it carries none."""
    if not isinstance(body, str) or not body.startswith(STAMP_START):
        return None
    end = body.find(STAMP_END, 1, _STAMP_MAX_CHARS)
    if end < 0:
        return None
    try:
        stamp = float(body[1:end])
    except ValueError:
        return None
    return stamp if math.isfinite(stamp) else None
