"""What a delivered message costs the server and the wire: CPU, memory, bytes, requests."""

from __future__ import annotations

import math
from dataclasses import dataclass

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from analysis.figures.style import FONT_SIZE, bar_per_target, new_figure, require
from analysis.load import RunData
from analysis.palette import colour_of

BYTES_PER_KIB = 1024
PAYLOAD_GREY = "#bbbbbb"


def _values(data: RunData, metric: str, *, servers_only: bool) -> tuple[list[str], list[float]]:
    """Measured targets with a finite value of `metric` (servers only: no emulated Lambda)."""
    skip = set(data.serverless) if servers_only else set()
    pairs = [
        (t, value)
        for t in data.measured
        if t not in skip and math.isfinite(value := data.metric(t, metric))
    ]
    return [t for t, _ in pairs], [v for _, v in pairs]


@dataclass(frozen=True, kw_only=True)
class BarChart:
    """One bar per measured target: the metric, whose targets, how it is labelled and scaled."""

    metric: str
    servers_only: bool  # no emulated Lambda: a server-side measurement
    missing: str  # MissingData's note when no target has the metric
    xlabel: str
    title: str
    divisor: float = 1.0
    fmt: str = "{:,.3g}"


def _bars(data: RunData, chart: BarChart) -> Figure:
    """One bar per measured target with a finite `chart.metric` (divided by its divisor),
    labelled. MissingData(`chart.missing`) when no target has it."""
    targets, values = _values(data, chart.metric, servers_only=chart.servers_only)
    require(bool(targets), chart.missing)
    figure, (ax,) = new_figure(0.5 + 0.38 * len(targets))
    bar_per_target(ax, targets, [v / chart.divisor for v in values], fmt=chart.fmt)
    ax.set_xlabel(chart.xlabel)
    ax.set_title(chart.title)
    return figure


def cpu_per_1k_messages(data: RunData) -> Figure:
    """Server CPU-seconds per 1,000 delivered messages, per target."""
    return _bars(
        data,
        BarChart(
            metric="server_cpu_s_per_1k_delivered",
            servers_only=True,
            missing="no server CPU measurement per delivered message in this run",
            xlabel="server CPU-seconds per 1,000 delivered messages",
            title="CPU per 1,000 delivered messages",
        ),
    )


def rss_per_connection(data: RunData) -> Figure:
    """Server resident memory per open connection (KiB), history's share off, per target; a
    run from before history was measured apart shows its growth per connection, history in,
    and says so."""
    metric, what = "server_rss_per_connection_net_bytes", "history's share off"
    if not _values(data, metric, servers_only=True)[0]:
        metric, what = "server_rss_per_connection_bytes", "history in: an older run"
    return _bars(
        data,
        BarChart(
            metric=metric,
            servers_only=True,
            missing="no memory-per-connection measurement in this run",
            xlabel=f"server RSS per open connection, {what} (KiB)",
            title="Memory per connection",
            divisor=BYTES_PER_KIB,
            fmt="{:,.1f}",
        ),
    )


def bytes_per_message(data: RunData) -> Figure:
    """Bytes on the wire per delivered message, both ways: the payload and everything else."""
    targets, totals = _values(data, "bytes_per_delivered", servers_only=False)
    require(bool(targets), "no byte counts in this run")
    payload = float(data.run.scenario.payload_bytes)
    figure, (ax,) = new_figure(0.9 + 0.38 * len(targets))
    positions = list(range(len(targets)))[::-1]
    overhead = [max(total - payload, 0.0) for total in totals]
    ax.barh(
        positions,
        [payload] * len(targets),
        color=PAYLOAD_GREY,
        height=0.6,
    )
    bars = ax.barh(
        positions,
        overhead,
        left=[payload] * len(targets),
        height=0.6,
        color=[colour_of(t) for t in targets],
    )
    ax.bar_label(bars, labels=[f"{t:,.0f} B" for t in totals], padding=3, fontsize=FONT_SIZE)
    ax.set_yticks(positions, targets)
    ax.margins(x=0.18)
    ax.grid(False, axis="y")
    ax.set_xlabel("bytes per delivered message, both directions, at the client socket")
    ax.set_title("Bytes per delivered message")
    handles = [
        Patch(facecolor=PAYLOAD_GREY, label=f"payload ({payload:,.0f} B body)"),
        Patch(
            facecolor="white",
            edgecolor="#333333",
            label="overhead, in the target's colour: envelope, headers, framing, publishes, polls",
        ),
    ]
    figure.legend(
        handles=handles, fontsize=FONT_SIZE - 1, frameon=False, loc="outside lower center", ncols=2
    )
    return figure


def requests_per_message(data: RunData) -> Figure:
    """HTTP requests, upgrades and frames sent per delivered message, per target."""
    return _bars(
        data,
        BarChart(
            metric="requests_per_delivered",
            servers_only=False,
            missing="no request counts in this run",
            xlabel="requests (HTTP requests, upgrades, frames sent) per delivered message",
            title="Requests per delivered message",
        ),
    )
