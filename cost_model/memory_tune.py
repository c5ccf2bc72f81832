"""The memory tune priced: cost per million invocations at each size, cheapest and fastest.

Rows are `tbench lambda tune`'s (run.json's `lambda_tune`): memory_mb, duration_p50_ms,
billed_duration_p50_ms, ... The cost is Lambda compute + requests at the billed p50.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from contract.results import LambdaTuneRow
from cost_model.lambda_cost import usd_per_million_invocations
from cost_model.pricing import Architecture, Pricing


class PricedTuneRow(LambdaTuneRow):
    """A memory size of the tune with its cost, and whether it is the cheapest or fastest."""

    usd_per_million: float
    cheapest: bool
    fastest: bool  # by duration p50


def priced_rows(
    rows: Sequence[LambdaTuneRow], pricing: Pricing, architecture: Architecture = "x86_64"
) -> list[PricedTuneRow]:
    """Each size with `usd_per_million`, and `cheapest` / `fastest` (p50) marks."""
    costs = [
        usd_per_million_invocations(
            Decimal(str(row.billed_duration_p50_ms)),
            Decimal(row.memory_mb),
            pricing,
            architecture,
        )
        for row in rows
    ]
    indices = range(len(rows))
    cheapest = min(indices, key=lambda i: costs[i], default=None)
    fastest = min(indices, key=lambda i: rows[i].duration_p50_ms, default=None)
    return [
        PricedTuneRow(
            **row.model_dump(),
            usd_per_million=float(round(cost, 6)),
            cheapest=index == cheapest,
            fastest=index == fastest,
        )
        for index, (row, cost) in enumerate(zip(rows, costs, strict=True))
    ]
