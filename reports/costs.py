"""The report's cost section: the talk's Lambda example and the measured run priced."""

from __future__ import annotations

from dataclasses import dataclass

from cost_model.measured import RunPricing
from cost_model.measured_render import (
    describe_cost,
    describe_inits,
    describe_load,
)
from cost_model.pricing import Pricing
from cost_model.render import render_lambda
from cost_model.talk import TALK_COMMAND, talk_estimate
from reports.formatting import money


@dataclass(frozen=True)
class TalkExample:
    """The talk's Lambda bill, line by line, and its total."""

    text: str
    total: str
    pricing_origin: str
    command: str


def talk_example(pricing: Pricing, origin: str) -> TalkExample:
    """Reproduce the talk's Lambda bill (13,385.15 USD at the default us-east-1 prices)."""
    estimate = talk_estimate(pricing)
    return TalkExample(
        text=render_lambda(estimate, pricing),
        total=money(estimate.bill.total_usd, pricing.currency),
        pricing_origin=origin,
        command=TALK_COMMAND,
    )


@dataclass(frozen=True)
class CostRow:
    """One priced target: monthly bill, per million delivered, and what it is made of."""

    target: str
    kind: str
    monthly: str
    per_million: str
    detail: str


@dataclass(frozen=True)
class CostTable:
    """The measured run priced with one set of prices."""

    pricing_origin: str
    currency: str
    assumptions: list[str]
    rows: list[CostRow]
    init_lines: list[str]  # per serverless target: cold starts, INIT GB-s, USD
    skipped: list[str]


def cost_table(
    priced: RunPricing, pricing: Pricing, origin: str, durations: list[str] | None = None
) -> CostTable:
    """Rows and the assumptions behind them, in cost_model's own words;
    `durations`: which Lambda durations each serverless target is priced from."""
    currency = pricing.currency
    rows = [
        CostRow(
            target=cost.target,
            kind="API Gateway + Lambda" if cost.kind == "serverless" else "Fargate",
            monthly=money(cost.monthly_usd, currency),
            per_million=money(cost.usd_per_million_delivered, currency),
            detail=describe_cost(cost),
        )
        for cost in priced.costs
    ]
    return CostTable(
        pricing_origin=origin,
        currency=currency,
        assumptions=[*describe_load(priced), *(durations or [])],
        rows=rows,
        init_lines=describe_inits(priced),
        skipped=[f"{target}: {why}" for target, why in priced.skipped.items()],
    )
