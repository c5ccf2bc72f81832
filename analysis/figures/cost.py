"""Monthly cost against users: each container fleet sized from its measured capacity, the
serverless bill from the lambda target's measured durations; crossovers marked."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from analysis.figures.style import (
    FONT_SIZE,
    LineStyle,
    MissingData,
    marked_vline,
    new_figure,
    require,
)
from analysis.load import RunData
from analysis.palette import colour_of
from cost_model.at_scale import PlanError, chat_scale
from cost_model.plan_curve import bill_curves, crossovers, users_range
from cost_model.plan_sources import PlanSources, SourceRun, sources_beside
from cost_model.pricing import Pricing, load_pricing

NO_CAPACITY = (
    "no capacity measured in this run or beside it: `sudo tbench run --scenario capacity` "
    "(make bench runs it as root)"
)


def _money(value: float, _position: object = None) -> str:
    return f"${value:,.0f}" if value >= 1 else f"${value:.2g}"


def _sources(data: RunData) -> PlanSources:
    try:
        return sources_beside(SourceRun(data.path, data.run))
    except PlanError as exc:
        raise MissingData(NO_CAPACITY) from exc


def cost_vs_users(data: RunData, pricing: Pricing | None = None) -> Figure:
    """Monthly cost (log) vs users (log) at the chat habits; crossovers marked."""
    pricing = pricing or load_pricing()
    found = _sources(data)
    containers, serverless = found.containers, found.serverless
    require(bool(containers), NO_CAPACITY)
    scale = chat_scale(1, containers[0].capacity.slo_p99_ms)
    users = users_range()
    curves = bill_curves(scale, users, containers, serverless, pricing)
    figure, (ax,) = new_figure(3.4)
    x = [float(count) for count in users]
    for target, totals in curves.items():
        is_serverless = serverless is not None and target == serverless.target
        ax.plot(
            x,
            [float("nan") if usd is None else float(usd) for usd in totals],
            color=colour_of(target),
            linewidth=2.0 if is_serverless else 1.2,
            drawstyle="default" if is_serverless else "steps-post",
            label=f"{target} ({'API Gateway + Lambda' if is_serverless else 'Fargate + ALB'})",
        )
    for crossing in crossovers(scale, containers, serverless, pricing) if serverless else []:
        if crossing.users is None or crossing.dearer_from_start:
            continue
        style = LineStyle(
            colour=colour_of(crossing.containers),
            linestyle="--",
            linewidth=0.8,
            fontsize=FONT_SIZE - 2,
        )
        marked_vline(
            ax,
            float(crossing.users),
            f"{crossing.users:,}",
            at=0.02,
            style=style,
            rotation=90,
            ha="right",
            va="bottom",
        )
    marked_vline(
        ax, float(data.run.scenario.users), "this run's users", at=0.98, ha="left", va="top"
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(_money))
    ax.set_xlabel(
        f"users (rooms of {scale.users_per_room}, a fifth posting "
        f"{scale.publish_rate_per_s} msg/s; p99 ≤ {scale.slo_p99_ms:g} ms)"
    )
    ax.set_ylabel(f"monthly cost ({pricing.currency})")
    ax.set_title("Monthly cost vs users (dashed: where serverless becomes dearer)")
    ax.legend(fontsize=FONT_SIZE - 1, frameon=False, loc="upper left", bbox_to_anchor=(0.0, 0.92))
    return figure
