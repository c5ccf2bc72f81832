"""Published figures to validate measurements against (docs/metrics.md "Theory")."""

from __future__ import annotations

MS_PER_S = 1000.0
SHORT_POLL_P99_FRACTION = 0.99  # of the interval: a message waits at most one interval


def short_polling_mean_ms(interval_s: float, rtt_ms: float) -> float:
    """Short polling (sleep after response, interval T): mean delivery ≈ T/2 + RTT."""
    return interval_s * MS_PER_S / 2 + rtt_ms


def short_polling_p99_ms(interval_s: float) -> float:
    """Short polling: p99 delivery ≈ 0.99·T (arrivals spread evenly over the interval)."""
    return SHORT_POLL_P99_FRACTION * interval_s * MS_PER_S


def short_polling_mean_over_link_ms(interval_s: float, rtt_ms: float) -> float:
    """Short polling with the publisher behind the same link: T/2 + RTT, plus the publish's
    one way (RTT/2), since delivery latency starts at the publisher's send."""
    return short_polling_mean_ms(interval_s, rtt_ms) + rtt_ms / 2
