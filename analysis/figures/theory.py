"""Short polling measured against theory (docs/metrics.md "Theory"): mean T/2 + RTT, p99 0.99·T."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from analysis.figures.style import FONT_SIZE, new_figure, require
from analysis.load import RunData
from analysis.palette import NEUTRAL, colour_of
from analysis.theory import short_polling_mean_ms, short_polling_p99_ms

RTT_REQUESTS = ("empty poll", "poll")  # an empty poll's round trip is the purest RTT


def poll_rtt_ms(data: RunData, target: str) -> float | None:
    """Mean round trip of a poll (empty ones preferred) from Locust's statistics."""
    stats = data.locust_stats
    if stats.empty:
        return None
    rows = stats[stats["target"] == target]
    for name in RTT_REQUESTS:
        match = rows[(rows["Name"] == name) & (rows["Request Count"] > 0)]
        if not match.empty:
            return float(match["Average Response Time"].iloc[0])
    return None


def short_polling_vs_theory(data: RunData) -> Figure:
    """Measured mean and p99 delivery of short polling beside T/2 + RTT and 0.99·T."""
    targets = [t for t in data.measured if data.run.targets[t].family == "short-polling"]
    require(bool(targets), "no short-polling target measured in this run")
    interval_s = data.run.scenario.poll_interval_s
    figure, (ax,) = new_figure(2.6)
    width = 0.35
    groups = np.arange(2)
    for index, target in enumerate(targets):
        rtt = poll_rtt_ms(data, target) or 0.0
        measured = [data.metric(target, m) for m in ("delivery_mean_ms", "delivery_p99_ms")]
        theory = [short_polling_mean_ms(interval_s, rtt), short_polling_p99_ms(interval_s)]
        shift = index * 2 * width
        bars = ax.bar(
            groups - width / 2 + shift,
            measured,
            width,
            color=colour_of(target),
            label=f"{target}: measured",
        )
        ax.bar_label(bars, labels=[f"{v:,.0f} ms" for v in measured], fontsize=FONT_SIZE - 1)
        bars = ax.bar(
            groups + width / 2 + shift,
            theory,
            width,
            color="white",
            edgecolor=NEUTRAL,
            hatch="///",
            label=f"theory (T = {interval_s:g} s, RTT = {rtt:.1f} ms)",
        )
        ax.bar_label(bars, labels=[f"{v:,.0f} ms" for v in theory], fontsize=FONT_SIZE - 1)
    ax.set_xticks(groups, ["mean  (theory T/2 + RTT)", "p99  (theory 0.99·T)"])
    ax.set_ylabel("delivery latency (ms)")
    ax.margins(y=0.2)
    ax.grid(False, axis="x")
    ax.set_title("Short polling: measured vs theory")
    ax.legend(fontsize=FONT_SIZE - 1, frameon=False, loc="upper left")
    return figure
