"""The talk's Lambda example: 1,000 concurrent executions of 200 ms at 256 MB for 30 days."""

from __future__ import annotations

from decimal import Decimal

from cost_model.lambda_cost import (
    LambdaEstimate,
    LambdaFunction,
    estimate_lambda,
    throughput_from_concurrency,
)
from cost_model.pricing import Pricing

TALK_CONCURRENCY = Decimal(1000)
TALK_DURATION_MS = Decimal(200)
TALK_MEMORY_MB = Decimal(256)
TALK_MONTH_DAYS = Decimal(30)
TALK_COMMAND = "tbench cost lambda --concurrency 1000 --duration-ms 200 --memory-mb 256"


def talk_estimate(pricing: Pricing) -> LambdaEstimate:
    """The talk's bill: 13,385.15 USD a month at the default us-east-1 prices."""
    throughput = throughput_from_concurrency(TALK_CONCURRENCY, TALK_DURATION_MS, TALK_MONTH_DAYS)
    return estimate_lambda(throughput, LambdaFunction(memory_mb=TALK_MEMORY_MB), pricing)
