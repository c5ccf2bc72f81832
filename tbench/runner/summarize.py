"""Turn a target's `loadgen.json` and resource samples into run.json metrics and flags."""

from __future__ import annotations

from typing import Any

from contract.results import (
    FLAG_ENDED_EARLY,
    FLAG_ERRORS,
    FLAG_LOADGEN_SATURATED,
    FLAG_UNDER_DELIVERED,
    LOADGEN_SATURATION_PERCENT,
)

LATENCY_STATS = ("mean", "p50", "p90", "p95", "p99", "p999", "max")


def measured_window(loadgen: dict[str, Any]) -> tuple[float, float]:
    """(start, end) epoch seconds of the measured window: first window start to publish end."""
    timeline = loadgen.get("timeline") or {}
    windows = timeline.get("windows") or []
    start = float(windows[0][1]) if windows else 0.0
    end = timeline.get("publish_end") or (windows[-1][2] if windows else None) or start
    return start, float(end)


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 4)


def loadgen_metrics(loadgen: dict[str, Any]) -> dict[str, float | int | None]:
    """Delivery accounting, latencies, requests and bytes from the load generator's result."""
    delivery = loadgen["delivery"]
    window = loadgen.get("window") or {}
    counters = loadgen.get("counters") or {}
    scenario = loadgen.get("scenario") or {}
    sweep = loadgen.get("sweep") or []
    users = (
        sweep[-1]["users"]
        if sweep
        else scenario.get("rooms", 0) * scenario.get("users_per_room", 0)
    )
    seconds = window.get("seconds") or None
    receipts = window.get("receipts") or None
    measured_deliveries = loadgen["latency"]["delivery"].get("count") or 0
    metrics: dict[str, float | int | None] = {
        "users": users,
        "measured_s": round(seconds, 3) if seconds else None,
        **{key: delivery[key] for key in ("published", "expected", "delivered", "lost")},
        "duplicated": delivery["duplicated"],
        "out_of_order": delivery["out_of_order"],
        "unexpected": delivery["unexpected"],
        "delivered_per_s": _ratio(measured_deliveries, seconds),
        "requests": window.get("requests"),
        "requests_per_delivered": _ratio(window.get("requests"), receipts),
        "empty_polls": window.get("empty_polls"),
        "bytes_sent": window.get("bytes_sent"),
        "bytes_received": window.get("bytes_received"),
        "bytes_per_delivered": _ratio(
            (window.get("bytes_sent") or 0) + (window.get("bytes_received") or 0), receipts
        ),
        "errors": sum(
            counters.get(name, 0) for name in ("connect_errors", "publish_errors", "receive_errors")
        ),
        "reconnects": counters.get("reconnects", 0),
        "clock_skew_samples": loadgen.get("clock_skew_samples", 0),
        "knee_users": loadgen.get("knee_users"),
        "ended_early": int(bool(loadgen.get("ended_early"))),
    }
    for name, summary in loadgen["latency"].items():
        for stat in LATENCY_STATS:
            value = summary.get(f"{stat}_ms")
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
    """Why a measured target's numbers need a caveat (DESIGN §3)."""
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
