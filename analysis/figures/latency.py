"""Delivery latency: distribution, percentiles, under growing load, and over time."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from analysis.figures.style import FONT_SIZE, LineStyle, marked_hline, new_figure, require
from analysis.load import RunData
from analysis.palette import NEUTRAL, colour_of

PERCENTILES = (("p50", 1.0), ("p95", 0.65), ("p99", 0.35))  # (stat, bar opacity)
CDF_POINTS = 300  # per target
THIN = LineStyle(linewidth=0.6)  # the percentile marks behind the curves


def _ms_label(value: float, _position: object = None) -> str:
    return f"{value:g}" if value >= 1 else f"{value:.2g}"


def thin(rows: pd.DataFrame, points: int = CDF_POINTS) -> pd.DataFrame:
    """At most `points` rows, evenly spread, first and last kept: the drawn curve looks the
    same, and a report's SVG stays small (one HDR bucket per row otherwise)."""
    if len(rows) <= points:
        return rows
    return rows.iloc[np.unique(np.linspace(0, len(rows) - 1, points).round().astype(int))]


def _ms_value(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def delivery_cdf(data: RunData) -> Figure:
    """Share of deliveries at or under each latency, per target (log x)."""
    latency = data.latency
    targets = [t for t in data.measured if t in set(latency["target"])]
    require(bool(targets), "no delivery latency was recorded in this run")
    figure, (ax,) = new_figure(3.0)
    for target in targets:
        rows = thin(latency[latency["target"] == target])
        ax.step(
            rows["latency_ms"],
            rows["fraction"],
            where="post",
            color=colour_of(target),
            label=target,
            linewidth=1.4,
        )
    for level in (0.5, 0.99):
        marked_hline(ax, level, f"p{level * 100:g}", at=1.0, style=THIN, ha="right", va="bottom")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(_ms_label))
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("delivery latency (ms, log scale)")
    ax.set_ylabel("share of deliveries")
    ax.set_title("Delivery latency distribution")
    ax.legend(fontsize=FONT_SIZE, frameon=False, loc="lower right")
    return figure


def latency_percentiles(data: RunData) -> Figure:
    """p50 / p95 / p99 delivery latency per target (log scale), bars in the target's colour."""
    targets = [t for t in data.measured if data.metric(t, "delivery_p50_ms") > 0]
    require(bool(targets), "no delivery latency was recorded in this run")
    figure, (ax,) = new_figure(2.9)
    width = 0.26
    positions = np.arange(len(targets))
    for offset, (stat, alpha) in enumerate(PERCENTILES):
        values = [data.metric(t, f"delivery_{stat}_ms") for t in targets]
        bars = ax.bar(
            positions + (offset - 1) * width,
            values,
            width,
            alpha=alpha,
            color=[colour_of(t) for t in targets],
            edgecolor="#333333",
            linewidth=0.4,
            label=stat,
        )
        ax.bar_label(
            bars,
            labels=[_ms_value(v) for v in values],
            fontsize=FONT_SIZE - 2,
            padding=2,
            rotation=90,
        )
    ax.set_yscale("log")
    highest = max(data.metric(t, "delivery_p99_ms") for t in targets)
    ax.set_ylim(top=highest * 20)  # headroom for the vertical labels and the legend
    ax.yaxis.set_major_formatter(FuncFormatter(_ms_label))
    ax.set_xticks(positions, targets)
    ax.set_ylabel("delivery latency (ms, log scale)")
    ax.set_title("Delivery latency percentiles (bars: p50, p95, p99)")
    handles = [Patch(facecolor=NEUTRAL, alpha=alpha) for _, alpha in PERCENTILES]
    ax.legend(
        handles,
        [stat for stat, _ in PERCENTILES],
        fontsize=FONT_SIZE,
        frameon=False,
        ncols=3,
        loc="upper right",
    )
    ax.grid(False, axis="x")
    return figure


def latency_vs_users(data: RunData) -> Figure:
    """p95 (solid) and p50 (dashed) delivery latency at each sweep step, per target."""
    sweep = data.sweep
    require(not sweep.empty, "no sweep in this run (the sweep scenario adds users step by step)")
    figure, (ax,) = new_figure(3.0)
    for target in [t for t in data.targets if t in set(sweep["target"])]:
        rows = sweep[sweep["target"] == target].sort_values("users")
        colour = colour_of(target)
        ax.plot(rows["users"], rows["p95_ms"], marker="o", markersize=3, color=colour, label=target)
        ax.plot(rows["users"], rows["p50_ms"], linestyle="--", color=colour, linewidth=0.9)
    sweep_settings = data.run.scenario.sweep
    if sweep_settings is not None and sweep_settings.slo_p95_ms is not None:
        slo = sweep_settings.slo_p95_ms
        marked_hline(ax, slo, f"SLO p95 {slo:g} ms", at=0.0, va="bottom")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(_ms_label))
    ax.set_xlabel("simulated users")
    ax.set_ylabel("delivery latency (ms, log scale)")
    ax.set_title("Latency as users grow (solid p95, dashed p50)")
    ax.legend(fontsize=FONT_SIZE, frameon=False)
    return figure


def latency_and_cpu_over_time(data: RunData) -> Figure:
    """Delivery p50 (Locust's recent window) and server CPU, in seconds since each target began."""
    history, resources = data.latency_history, data.resources
    targets = [t for t in data.measured if t in set(resources["target"])]
    require(bool(targets), "no resource samples in this run")
    figure, (top, bottom) = new_figure(4.2, nrows=2)
    for target in targets:
        colour = colour_of(target)
        rows = history[history["target"] == target]
        if not rows.empty:
            sparse = len(rows) < 5  # a line of one point is invisible: mark the points
            top.plot(
                rows["elapsed_s"],
                rows["p50_ms"],
                color=colour,
                label=target,
                linewidth=1.2,
                marker="o" if sparse else None,
                markersize=3,
            )
        samples = resources[resources["target"] == target]
        samples = samples[samples["server_processes"] > 0]
        bottom.plot(
            samples["elapsed_s"],
            samples["server_cpu_percent"],
            color=colour,
            label=target,
            linewidth=1.0,
        )
    top.set_yscale("log")
    top.yaxis.set_major_formatter(FuncFormatter(_ms_label))
    top.set_ylabel("delivery p50 (ms)")
    top.set_title("Latency and server CPU over time")
    top.legend(fontsize=FONT_SIZE - 1, frameon=False, ncols=len(targets), loc="upper left")
    bottom.set_ylabel("server CPU (% of a core)")
    bottom.set_xlabel("seconds since the target's sampling began")
    return figure
