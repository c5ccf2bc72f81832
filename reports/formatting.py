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


def kib(value: float | None) -> str:
    """Bytes as KiB with one decimal."""
    if value is None or _missing(value):
        return DASH
    return f"{value / 1024:,.1f}"


def signed_percent(value: float | None) -> str:
    """A relative change (+12.3 %); dash when undefined."""
    if value is None or _missing(value):
        return DASH
    return f"{value * 100:+.1f} %"
