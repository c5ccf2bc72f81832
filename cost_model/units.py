"""Unit conversions shared by every bill (sizes are binary: 1 KB = 1,024 bytes)."""

from __future__ import annotations

from decimal import Decimal

BYTES_PER_KB = 1024  # AWS meters a 32 KB frame as 32,768 bytes
GB_PER_MB = 1 / Decimal(BYTES_PER_KB)  # 0.0009765625: AWS's MB-to-GB factor (256 MB = 0.25 GB)
MS_PER_SECOND = Decimal(1000)
MINUTES_PER_HOUR = 60
HOURS_PER_DAY = 24
SECONDS_PER_DAY = 86_400
MILLION = Decimal(1_000_000)  # prices are quoted per million requests and messages


def mb_to_gb(megabytes: Decimal) -> Decimal:
    """Megabytes to gigabytes the way AWS converts them (x 0.0009765625)."""
    return megabytes * GB_PER_MB


def ceil_div(numerator: int, denominator: int) -> int:
    """Integer division rounding up (a started unit counts as a whole one)."""
    return -(-numerator // denominator)
