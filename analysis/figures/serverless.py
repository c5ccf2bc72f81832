"""The Lambda target from its REPORT lines: invocations, cold starts, billed duration."""

from __future__ import annotations

from matplotlib.figure import Figure

from analysis.figures.style import FONT_SIZE, new_figure, require
from analysis.load import RunData
from analysis.palette import colour_of

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
