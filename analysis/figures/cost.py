"""Monthly cost against traffic: the serverless bill's line and the containers' steps."""

from __future__ import annotations

from decimal import Decimal

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from analysis.figures.style import FONT_SIZE, LineStyle, marked_vline, new_figure, require
from analysis.load import RunData
from analysis.palette import colour_of
from cost_model.measured import (
    DEFAULT_TASK,
    PricingTerms,
    RunPricing,
    TaskSize,
    cost_curve,
    load_of_run,
    measured_from,
    price_run,
)
from cost_model.pricing import Pricing, load_pricing

RATES_PER_DECADE = 12
LOWEST_RATE = 0.1  # delivered messages per second
HIGHEST_RATE = 100_000.0


def _rates() -> list[Decimal]:
    decades = round(RATES_PER_DECADE * 6)  # 0.1 .. 100,000 msgs/s
    return [
        Decimal(str(round(LOWEST_RATE * 10 ** (i / RATES_PER_DECADE), 6)))
        for i in range(decades + 1)
    ]


def _money(value: float, _position: object = None) -> str:
    return f"${value:,.0f}" if value >= 1 else f"${value:.2g}"


def cost_vs_traffic(
    data: RunData, pricing: Pricing | None = None, task: TaskSize = DEFAULT_TASK
) -> Figure:
    """Monthly cost (log) vs delivered messages/s (log) for the run's users; crossovers marked."""
    pricing = pricing or load_pricing()
    measured = measured_from(data.run, data.path)
    require(bool(measured.serverless), "no Lambda target with REPORT lines to price in this run")
    require(bool(measured.containers), "no container target with CPU and memory measurements")
    load = load_of_run(measured)
    rates = _rates()
    terms = PricingTerms(task=task)
    curves = cost_curve(measured, pricing, load, rates, terms)
    priced: RunPricing = price_run(measured, pricing, load, terms)
    figure, (ax,) = new_figure(3.4)
    x = [float(rate) for rate in rates]
    for target in [t for t in data.targets if t in curves]:
        serverless = any(s.target == target for s in measured.serverless)
        ax.plot(
            x,
            [float(v) for v in curves[target]],
            color=colour_of(target),
            linewidth=2.0 if serverless else 1.2,
            drawstyle="default" if serverless else "steps-post",
            label=f"{target} ({'API Gateway + Lambda + DynamoDB' if serverless else 'Fargate'})",
        )
    for crossing in priced.crossovers:
        if crossing.delivered_per_second is None or crossing.dearer_from_start:
            continue
        rate = float(crossing.delivered_per_second)
        style = LineStyle(
            colour=colour_of(crossing.containers),
            linestyle="--",
            linewidth=0.8,
            fontsize=FONT_SIZE - 2,
        )
        marked_vline(
            ax, rate, f"{rate:,.3g}/s", at=0.02, style=style, rotation=90, ha="right", va="bottom"
        )
    run_rate = float(load.delivered_per_second)
    marked_vline(ax, run_rate, "this run's load", at=0.98, ha="left", va="top")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(_money))
    ax.set_xlabel(
        f"delivered messages per second ({load.users:,} users, rooms of {load.room_size})"
    )
    ax.set_ylabel(f"monthly cost ({pricing.currency})")
    ax.set_title("Monthly cost vs traffic (dashed: where serverless becomes dearer)")
    ax.legend(fontsize=FONT_SIZE - 1, frameon=False, loc="upper left", bbox_to_anchor=(0.0, 0.92))
    return figure
