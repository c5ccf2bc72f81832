"""What one run of a scenario against a deployed stack costs, before it is deployed.

The serverless chat's bill (`cost_model.chat`) for the run's length instead of a month: the
scenario's users connected for the whole run, each publisher at its rate over the measured
window, one session each, no free tier, and the chat model's own durations (the stack's are
not known before it runs). It leaves out what costs next to nothing: CloudFormation, the code
bucket's request charges, CloudWatch Logs' ingestion of a few kilobytes of REPORT lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from contract.scenario import Scenario
from cost_model.chat import ChatBill, ChatWorkload, chat_bill
from cost_model.pricing import Architecture, Pricing

SECONDS_PER_DAY = Decimal(86_400)
# Connections the conformance checks open before the load (a handful): counted as users.
VERIFY_SESSIONS = 20


@dataclass(frozen=True)
class RunEstimate:
    """The estimated bill of one run, and the run's length it assumes."""

    scenario: str
    run_s: Decimal
    bill: ChatBill
    prices: str  # the price file's region

    @property
    def total_usd(self) -> Decimal:
        """The run's estimated total (cent-rounded service lines, as `chat_bill` gives)."""
        return self.bill.total_usd


def estimate_run(
    scenario: Scenario, pricing: Pricing, memory_mb: int, architecture: Architecture
) -> RunEstimate:
    """The serverless chat's bill for one run of `scenario` (one day of `run_s` seconds)."""
    run_s = Decimal(str(scenario.expected_run_s()))
    users = Decimal(scenario.users + VERIFY_SESSIONS)
    published = (
        Decimal(scenario.rooms * scenario.publishers_per_room)
        * Decimal(str(scenario.publish_rate_per_s))
        * Decimal(str(scenario.duration_s + scenario.warmup_s))
    )
    workload = ChatWorkload(
        users=users,
        hours_per_day=run_s / 3_600,
        messages_per_user_per_day=published / users,
        room_size=scenario.users_per_room,
        message_bytes=scenario.payload_bytes,
        month_days=Decimal(1),
        sessions_per_user_per_day=Decimal(1),
        memory_mb=Decimal(memory_mb),
        architecture=architecture,
        free_tier=False,
    )
    return RunEstimate(scenario.name, run_s, chat_bill(workload, pricing), pricing.region)


def describe_estimate(estimate: RunEstimate) -> str:
    """One paragraph: the run's estimated cost and what it is made of."""
    bill = estimate.bill
    total = f"{estimate.total_usd} USD" if estimate.total_usd > 0 else "under 0.01 USD"
    return (
        f"Estimated cost of this run ({estimate.scenario}, about {estimate.run_s:.0f} s): "
        f"{total} — API Gateway {bill.apigw.total_usd}, Lambda {bill.lambda_.total_usd}, "
        f"DynamoDB {bill.dynamodb.total_usd} ({estimate.prices} prices, no free tier; "
        f"{bill.messages_sent:.0f} messages, {bill.sessions:.0f} connections). CloudFormation, "
        "the code bucket and CloudWatch Logs add fractions of a cent."
    )
