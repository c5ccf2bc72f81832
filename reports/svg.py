"""A matplotlib Figure as an inline `<svg>` element: text kept as text, ids unique per page."""

from __future__ import annotations

import io
import re

import matplotlib
from matplotlib.figure import Figure

_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.DOTALL)  # XML declaration, DOCTYPE, comments
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)
_ID = re.compile(r'\bid="([^"]+)"')
_REFERENCE = re.compile(r'(url\(#|xlink:href="#|href="#)([^")]+)')


def figure_svg(figure: Figure, prefix: str) -> str:
    """The figure as an `<svg>` element; every id and reference gets `prefix`, so several
    figures on one page cannot collide (clip paths and markers are referenced by id)."""
    buffer = io.StringIO()
    # Text as <text> with a font stack, not glyph outlines: smaller, selectable, searchable.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": prefix}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    svg = _METADATA.sub("", _PROLOGUE.sub("", buffer.getvalue(), count=1))
    svg = _ID.sub(lambda m: f'id="{prefix}-{m[1]}"', svg)
    svg = _REFERENCE.sub(lambda m: f"{m[1]}{prefix}-{m[2]}", svg)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{prefix}" ', 1)
