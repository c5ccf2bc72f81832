"""Transports over emulated links (`tbench run --network`): delivery latency against RTT."""

from __future__ import annotations

from collections import defaultdict

from matplotlib.figure import Figure

from analysis.figures.style import FONT_SIZE, new_figure, require
from analysis.load import RunData
from analysis.palette import NEUTRAL, colour_of
from analysis.theory import short_polling_mean_over_link_ms


def network_points(data: RunData) -> dict[str, list[tuple[float, float, float]]]:
    """Per transport: (measured path RTT, delivery p50, delivery mean) in ms, by RTT."""
    points: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for key in data.measured:
        network = data.run.targets[key].network
        if network is None or network.rtt_p50_ms is None:
            continue
        p50, mean = data.metric(key, "delivery_p50_ms"), data.metric(key, "delivery_mean_ms")
        points[data.run.targets[key].target].append((network.rtt_p50_ms, p50, mean))
    return {target: sorted(values) for target, values in points.items()}


def latency_vs_rtt(data: RunData) -> Figure:
    """Delivery p50 against the path's measured RTT, one line per transport, with short
    polling's theory (T/2 + 1.5·RTT: the publish crosses the link too)."""
    points = network_points(data)
    require(bool(points), "no target measured under a network profile (tbench run --network)")
    figure, (ax,) = new_figure(3.2)
    for target, values in points.items():
        rtts = [rtt for rtt, _, _ in values]
        ax.plot(
            rtts, [p50 for _, p50, _ in values], marker="o", color=colour_of(target), label=target
        )
    interval_s = data.run.scenario.poll_interval_s
    if "short-polling" in points:
        rtts = sorted({rtt for values in points.values() for rtt, _, _ in values} | {0.0})
        theory = [short_polling_mean_over_link_ms(float(interval_s), rtt) for rtt in rtts]
        ax.plot(
            rtts,
            theory,
            linestyle="--",
            color=NEUTRAL,
            label=f"short polling theory: T/2 + 1.5·RTT (T = {float(interval_s):g} s)",
        )
    ax.set_xlabel("RTT measured on the path (ms, TCP connect)")
    ax.set_ylabel("delivery p50 (ms)")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=FONT_SIZE - 1)
    return figure
