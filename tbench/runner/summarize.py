"""Turn a target's `loadgen.json` and resource samples into run.json metrics and flags."""

from __future__ import annotations

from contract.loadgen import LoadgenResult
from contract.results import (
    FLAG_ENDED_EARLY,
    FLAG_ERRORS,
    FLAG_LOADGEN_SATURATED,
    FLAG_UNDER_DELIVERED,
    LOADGEN_SATURATION_PERCENT,
)


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 4)


def loadgen_metrics(loadgen: LoadgenResult) -> dict[str, float | int | None]:
    """Delivery accounting, latencies, requests and bytes from the load generator's result."""
    delivery = loadgen.delivery
    window = loadgen.window
    seconds = (window.seconds or None) if window is not None else None
    receipts = (window.receipts or None) if window is not None else None
    measured_deliveries = loadgen.latency["delivery"].count
    metrics: dict[str, float | int | None] = {
        "users": loadgen.users(),
        "measured_s": round(seconds, 3) if seconds else None,
        "published": delivery.published,
        "expected": delivery.expected,
        "delivered": delivery.delivered,
        "lost": delivery.lost,
        "duplicated": delivery.duplicated,
        "out_of_order": delivery.out_of_order,
        "unexpected": delivery.unexpected,
        "delivered_per_s": _ratio(measured_deliveries, seconds),
        "requests": window.requests if window is not None else None,
        "requests_per_delivered": _ratio(window.requests, receipts) if window is not None else None,
        "empty_polls": window.empty_polls if window is not None else None,
        "bytes_sent": window.bytes_sent if window is not None else None,
        "bytes_received": window.bytes_received if window is not None else None,
        "bytes_per_delivered": (
            _ratio(window.bytes_sent + window.bytes_received, receipts)
            if window is not None
            else None
        ),
        "errors": loadgen.counters.errors,
        "reconnects": loadgen.counters.reconnects,
        "history_lost": loadgen.counters.history_lost,
        "clock_skew_samples": loadgen.clock_skew_samples,
        "knee_users": loadgen.knee_users,
        "ended_early": int(loadgen.ended_early),
    }
    for name, summary in loadgen.latency.items():
        for stat, value in summary.by_stat().items():
            metrics[f"{name}_{stat}_ms"] = round(value, 3) if value is not None else None
    return metrics


def derived_metrics(metrics: dict[str, float | int | None]) -> dict[str, float | int | None]:
    """Figures that combine the load generator's and the sampler's numbers."""
    delivered = metrics.get("delivered_per_s")
    seconds = metrics.get("measured_s")
    cpu_s = metrics.get("server_cpu_s")
    if cpu_s is None or not delivered or not seconds:
        return {"server_cpu_s_per_1k_delivered": None}
    return {"server_cpu_s_per_1k_delivered": round(cpu_s / (delivered * seconds) * 1000, 5)}


def flags_for(metrics: dict[str, float | int | None]) -> list[str]:
    """Why a measured target's numbers need a caveat (docs/metrics.md "Flags")."""
    flags = []
    cpu = metrics.get("loadgen_cpu_percent_mean")
    if cpu is not None and cpu > LOADGEN_SATURATION_PERCENT:
        flags.append(FLAG_LOADGEN_SATURATED)
    if (metrics.get("delivered") or 0) < (metrics.get("expected") or 0):
        flags.append(FLAG_UNDER_DELIVERED)
    if metrics.get("errors"):
        flags.append(FLAG_ERRORS)
    if metrics.get("ended_early"):
        flags.append(FLAG_ENDED_EARLY)
    return flags
