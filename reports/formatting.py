"""Numbers as a report shows them: a dash for what was not measured, sensible digits."""

from __future__ import annotations

import math
from decimal import Decimal

DASH = "–"


def _missing(value: float | Decimal | None) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def number(value: float | Decimal | None, digits: int = 3) -> str:
    """Significant digits with thousands separators (1,234 / 12.3 / 0.0456); dash if missing."""
    if value is None or _missing(value):
        return DASH
    value = float(value)
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    places = max(0, digits - 1 - magnitude)
    return f"{value:,.{places}f}"


def integer(value: float | Decimal | None) -> str:
    """A count with thousands separators; dash if missing."""
    if value is None or _missing(value):
        return DASH
    return f"{round(float(value)):,}"


def money(value: Decimal | float | None, currency: str = "USD") -> str:
    """An amount to the cent (1,234.56 USD); small amounts keep three significant digits."""
    if value is None or _missing(value):
        return DASH
    amount = float(value)
    if 0 < abs(amount) < 1:
        return f"{number(amount)} {currency}"
    return f"{amount:,.2f} {currency}"


def _in_units(value: float | None, unit: float) -> str:
    """A value in `unit`s with one decimal; dash if missing."""
    if value is None or _missing(value):
        return DASH
    return f"{value / unit:,.1f}"


def kib(value: float | None) -> str:
    """Bytes as KiB with one decimal."""
    return _in_units(value, 1024)


def signed_percent(value: float | None) -> str:
    """A relative change (+12.3 %); dash when undefined."""
    if value is None or _missing(value):
        return DASH
    return f"{value * 100:+.1f} %"


def percent_of(part: float, whole: float) -> str:
    """A share of a whole (0.4 %, 12 %); "< 0.1 %" for a sliver, dash when the whole is 0."""
    if whole <= 0 or _missing(part) or _missing(whole):
        return DASH
    share = 100 * part / whole
    if 0 < share < 0.1:
        return "< 0.1 %"
    return f"{share:.0f} %" if share >= 10 else f"{share:.1f} %"


def megabytes(value: float | None) -> str:
    """Bytes as MB (10^6) with one decimal."""
    return _in_units(value, 1e6)


def span(seconds: float | None) -> str:
    """A length of time in the unit a reader thinks in: 45 s, 83 min, 5.5 h; dash if missing."""
    if seconds is None or _missing(seconds):
        return DASH
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:,.1f} h"
