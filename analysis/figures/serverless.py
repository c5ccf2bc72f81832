"""The Lambda target: its REPORT lines (invocations, cold starts, billed duration), and its
memory tune (duration and cost against memory)."""

from __future__ import annotations

from matplotlib.figure import Figure

from analysis.figures.style import FONT_SIZE, marked_vline, new_figure, require
from analysis.load import RunData
from analysis.palette import NEUTRAL, colour_of
from cost_model.memory_tune import priced_rows
from cost_model.pricing import Pricing, load_pricing

COLD_HATCH = "////"


def lambda_invocations(data: RunData) -> Figure:
    """Per function: invocations (warm / cold), billed duration, and cold-start init times."""
    reports = data.lambda_reports
    require(not reports.empty, "no Lambda REPORT lines in this run (no lambda target measured)")
    target = data.serverless[0]
    everything = reports[reports["target"] == target]
    rows = everything[everything["status"] == "ok"]  # failed starts carry no duration
    failed = len(everything) - len(rows)
    require(not rows.empty, f"no Lambda invocation of {target} completed ({failed} failed)")
    colour = colour_of(target)
    functions = sorted(rows["function"].unique())
    figure, (count_ax, billed_ax, init_ax) = new_figure(2.8, ncols=3)
    positions = list(range(len(functions)))[::-1]
    labels = [name.removesuffix("Function") for name in functions]

    warm = [int((~rows[rows["function"] == f]["cold_start"]).sum()) for f in functions]
    cold = [int(rows[rows["function"] == f]["cold_start"].sum()) for f in functions]
    count_ax.barh(positions, warm, color=colour, height=0.6, label="warm")
    bars = count_ax.barh(
        positions,
        cold,
        left=warm,
        color="white",
        edgecolor=colour,
        hatch=COLD_HATCH,
        height=0.6,
        label="cold start",
    )
    count_ax.bar_label(
        bars,
        labels=[f"{w + c:,}" for w, c in zip(warm, cold, strict=True)],
        padding=2,
        fontsize=FONT_SIZE - 1,
    )
    count_ax.set_yticks(positions, labels)
    count_ax.set_xlabel("invocations")
    count_ax.set_title("Invocations")
    count_ax.margins(x=0.25)

    billed = [rows[rows["function"] == f]["billed_ms"].to_numpy() for f in functions]
    billed_ax.boxplot(
        billed,
        positions=positions,
        orientation="horizontal",
        widths=0.5,
        patch_artist=True,
        boxprops={"facecolor": colour, "alpha": 0.5},
        medianprops={"color": "black"},
        flierprops={"markersize": 2},
    )
    billed_ax.set_yticks(positions, [""] * len(functions))
    billed_ax.set_xscale("log")
    billed_ax.set_xlabel("billed duration (ms, log)")
    billed_ax.set_title("Billed duration")

    for position, name in zip(positions, functions, strict=True):
        init = rows[(rows["function"] == name) & rows["cold_start"]]["init_ms"]
        init_ax.scatter(init, [position] * len(init), color=colour, s=12, alpha=0.8)
    init_ax.set_yticks(positions, [""] * len(functions))
    init_ax.set_ylim(billed_ax.get_ylim())
    init_ax.set_xlabel("init duration (ms)")
    init_ax.set_title("Cold starts")
    failures = f" ({failed} more failed or timed out)" if failed else ""
    figure.suptitle(f"{target}: Lambda invocations per function{failures}", fontsize=FONT_SIZE + 1)
    figure.legend(
        *count_ax.get_legend_handles_labels(),
        fontsize=FONT_SIZE - 1,
        frameon=False,
        loc="outside lower center",
        ncols=2,
    )
    return figure


def lambda_memory(data: RunData, pricing: Pricing | None = None) -> Figure:
    """The run's memory tune: sendMessage duration (p50, p95) and cost per million, by memory."""
    pricing = pricing or load_pricing()
    tuned = [t for t in data.measured if data.run.targets[t].lambda_tune]
    require(bool(tuned), "no memory tune in this run (no lambda target started here)")
    target = tuned[0]
    result = data.run.targets[target]
    rows = priced_rows(sorted(result.lambda_tune, key=lambda r: r.memory_mb), pricing)
    memory = [row.memory_mb for row in rows]
    colour = colour_of(target)
    figure, (duration_ax,) = new_figure(3.0)
    p50 = [row.duration_p50_ms for row in rows]
    p95 = [row.duration_p95_ms for row in rows]
    duration_ax.plot(memory, p50, color=colour, marker="o", label="duration p50")
    duration_ax.plot(memory, p95, color=colour, marker="^", linestyle="--", label="duration p95")
    duration_ax.set_xscale("log", base=2)
    duration_ax.set_ylim(bottom=0)
    duration_ax.set_xticks(memory, [f"{m:,}" for m in memory])
    duration_ax.minorticks_off()
    duration_ax.set_xlabel("function memory (MB, log) — CPU share = memory / 1,769 vCPU")
    duration_ax.set_ylabel("sendMessage duration (ms)")
    cost_ax = duration_ax.twinx()
    cost_ax.plot(
        memory,
        [row.usd_per_million for row in rows],
        color=NEUTRAL,
        marker="s",
        label=f"{pricing.currency} per million invocations",
    )
    cost_ax.set_ylim(bottom=0)
    cost_ax.set_ylabel(f"{pricing.currency} per million invocations")
    cost_ax.grid(False)
    configured = result.deployment.function_memory_mb if result.deployment else None
    if configured is not None and configured in memory:
        marked_vline(duration_ax, configured, "configured", at=0.02, ha="left")
    cheapest = next(row for row in rows if row.cheapest)
    cost_ax.annotate(
        "cheapest",
        (cheapest.memory_mb, cheapest.usd_per_million),
        textcoords="offset points",
        xytext=(0, 6),
        ha="center",
        fontsize=FONT_SIZE - 1,
        color=NEUTRAL,
    )
    modelled = all(row.cpu_modelled for row in rows)
    invocations = rows[0].invocations
    duration_ax.set_title(
        f"{target}: sendMessage to a room of 10, {invocations} invocations per size"
        f"{'' if modelled else ' (CPU unmodelled)'}",
        fontsize=FONT_SIZE + 1,
    )
    handles = duration_ax.get_legend_handles_labels()
    extra = cost_ax.get_legend_handles_labels()
    figure.legend(
        handles[0] + extra[0],
        handles[1] + extra[1],
        fontsize=FONT_SIZE - 1,
        frameon=False,
        loc="outside lower center",
        ncols=3,
    )
    return figure
