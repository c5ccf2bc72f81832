"""One colour per target, the same in every plot: keyed by name, in the registry's order."""

from __future__ import annotations

from collections.abc import Iterable

from contract.registry import TARGETS

# Okabe–Ito: distinguishable with the common colour-vision deficiencies, and in greyscale print.
COLOURS = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # green
    "#CC79A7",  # purple
    "#D55E00",  # vermilion
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)
NEUTRAL = "#7f7f7f"  # theory lines, reference markers


def target_order(names: Iterable[str]) -> list[str]:
    """Targets in the registry's order; unregistered names after them, alphabetically."""
    known = list(TARGETS)
    given = set(names)
    return [name for name in known if name in given] + sorted(given - set(known))


def target_colours(names: Iterable[str] = ()) -> dict[str, str]:
    """Colour per target: registered targets by registry position, others after them."""
    ordered = list(TARGETS) + sorted(set(names) - set(TARGETS))
    return {name: COLOURS[index % len(COLOURS)] for index, name in enumerate(ordered)}


def colour_of(name: str) -> str:
    """The colour of one target."""
    return target_colours([name])[name]
