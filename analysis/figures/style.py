"""What every figure shares: a Figure on the Agg canvas, fonts, grids, the missing-data signal."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analysis.palette import NEUTRAL, colour_of

WIDTH_IN = 7.2  # fits an A4 page's text width and a report column
FONT_SIZE = 8.5


class MissingData(LookupError):
    """The run lacks what a figure needs (no lambda target, no sweep): the message says what."""


def new_figure(height_in: float = 3.0, ncols: int = 1, nrows: int = 1) -> tuple[Figure, list[Axes]]:
    """A figure on the Agg canvas (no pyplot, no global state) with its axes, flattened."""
    figure = Figure(figsize=(WIDTH_IN, height_in), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat:
        style_axes(ax)
    return figure, list(axes.flat)


def style_axes(ax: Axes) -> None:
    """Light grid behind the data, no top/right spines, the report's font size."""
    ax.set_axisbelow(True)
    ax.grid(True, which="major", color="#dddddd", linewidth=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=FONT_SIZE)
    ax.xaxis.label.set_fontsize(FONT_SIZE)
    ax.yaxis.label.set_fontsize(FONT_SIZE)
    ax.title.set_fontsize(FONT_SIZE + 1)


def bar_per_target(
    ax: Axes, targets: Sequence[str], values: Sequence[float], *, fmt: str = "{:,.3g}"
) -> None:
    """Horizontal bars, one per target in its colour, first target on top, values written."""
    positions = list(range(len(targets)))[::-1]
    bars = ax.barh(positions, values, color=[colour_of(t) for t in targets], height=0.6)
    ax.set_yticks(positions, list(targets))
    ax.bar_label(bars, labels=[fmt.format(v) for v in values], padding=3, fontsize=FONT_SIZE)
    ax.margins(x=0.18)
    ax.grid(False, axis="y")


@dataclass(frozen=True, kw_only=True)
class LineStyle:
    """How a reference line and its label look."""

    colour: str = NEUTRAL
    linestyle: str = ":"
    linewidth: float = 1.0
    fontsize: float = FONT_SIZE - 1


PLAIN_LINE = LineStyle()


def marked_hline(
    ax: Axes,
    y: float,
    text: str,
    *,
    at: float,
    style: LineStyle = PLAIN_LINE,
    **text_kwargs: Any,
) -> None:
    """A reference line across the axes at data `y`, labelled `text` in the line's colour at
    axes fraction `at` along it."""
    ax.axhline(y, color=style.colour, linestyle=style.linestyle, linewidth=style.linewidth)
    _label(ax, text, ((at, y), ("axes fraction", "data")), style, **text_kwargs)


def marked_vline(
    ax: Axes,
    x: float,
    text: str,
    *,
    at: float,
    style: LineStyle = PLAIN_LINE,
    **text_kwargs: Any,
) -> None:
    """A reference line up the axes at data `x`, labelled `text` in the line's colour at axes
    fraction `at` along it."""
    ax.axvline(x, color=style.colour, linestyle=style.linestyle, linewidth=style.linewidth)
    _label(ax, text, ((x, at), ("data", "axes fraction")), style, **text_kwargs)


def _label(
    ax: Axes,
    text: str,
    where: tuple[tuple[float, float], tuple[str, str]],
    style: LineStyle,
    **text_kwargs: Any,
) -> None:
    xy, xycoords = where
    ax.annotate(
        text, xy, xycoords=xycoords, fontsize=style.fontsize, color=style.colour, **text_kwargs
    )


def require(condition: bool, note: str) -> None:
    """Raise MissingData(note) unless `condition` holds."""
    if not condition:
        raise MissingData(note)
