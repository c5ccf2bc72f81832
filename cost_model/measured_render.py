"""A priced run as text (`tbench cost run`), and the sentences the HTML report reuses."""

from __future__ import annotations

from cost_model.init_phase import describe_rule
from cost_model.measured import MeasuredRun, RunPricing, TargetCost
from cost_model.pricing import Pricing
from cost_model.render import INDENT, count, fixed, init_summary, usd


def describe_load(priced: RunPricing) -> list[str]:
    """What was priced: the load, the container tasks, the serverless architecture."""
    load, task = priced.load, priced.task
    return [
        f"Load: {count(load.users)} users in rooms of {load.room_size}, each sending"
        f" {fixed(load.messages_per_user_per_day)} messages a day, connected"
        f" {fixed(load.hours_per_day)} h a day, {fixed(load.month_days, 0)} days:"
        f" {count(load.delivered_per_month.to_integral_value())} delivered messages"
        f" ({fixed(load.delivered_per_second)}/s)",
        f"Containers: always-on Fargate tasks of {task.vcpu} vCPU / {task.memory_gb} GB filled"
        f" to {task.target_utilization:.0%}, sized for every user connected at once"
        " (load balancer and data transfer not included)",
        "Serverless: the servers/lambda_ws architecture (API Gateway WebSocket, Lambda at the"
        " run's billed durations and memory, DynamoDB connections table), "
        + ("with" if priced.free_tier else "without")
        + " Lambda's free tier; cold starts as often per message and per connection as in the"
        f" run, their INIT phase {describe_rule(priced.init_billing)}",
    ]


def describe_durations(measured: MeasuredRun) -> list[str]:
    """Which Lambda durations each serverless target is priced from (the run's or the tune's)."""
    return [f"{s.target}: Lambda priced from {s.durations_from}" for s in measured.serverless]


def describe_cost(cost: TargetCost) -> str:
    """What one target's bill is made of."""
    if cost.chat is not None:
        bill = cost.chat
        return (
            f"API Gateway {usd(bill.apigw.total_usd)} + Lambda {usd(bill.lambda_.total_usd)}"
            f" ({count(bill.lambda_.requests.requests)} invocations,"
            f" INIT {usd(bill.lambda_.init.usd)})"
            f" + DynamoDB {usd(bill.dynamodb.total_usd)}"
        )
    if cost.sizing is not None and cost.fargate is not None:
        return (
            f"{count(cost.sizing.tasks)} task(s): needs {fixed(cost.sizing.required_vcpu, 3)}"
            f" vCPU and {fixed(cost.sizing.required_memory_gb, 3)} GB"
        )
    return ""


def describe_inits(priced: RunPricing) -> list[str]:
    """Each serverless target's INIT line: cold starts, INIT GB-s, USD, the rule."""
    return [
        f"{cost.target}: {init_summary(cost.chat.lambda_)}"
        for cost in priced.costs
        if cost.chat is not None
    ]


def per_million(cost: TargetCost) -> str:
    """The cost per million delivered messages, or a dash."""
    value = cost.usd_per_million_delivered
    return "-" if value is None else f"{fixed(value, 4)} USD"


def render_run_pricing(priced: RunPricing, pricing: Pricing) -> str:
    """The `tbench cost run` answer: what was priced, per target, and where to look next."""
    lines = [
        f"Run {priced.run_id} priced for a month ({pricing.region}, prices in {pricing.currency})",
        "",
        *describe_load(priced),
        "",
        f"{'target':<16}{'monthly':>16}{'per million msgs':>20}  made of",
    ]
    for cost in priced.costs:
        lines.append(
            f"{cost.target:<16}{usd(cost.monthly_usd):>16}{per_million(cost):>20}"
            f"  {describe_cost(cost)}"
        )
    if inits := describe_inits(priced):
        lines += ["", "Lambda cold starts (included in the monthly figures above)"]
        lines += [f"{INDENT}{line}" for line in inits]
    lines += [
        "",
        "At other scales, and where serverless becomes dearer: `tbench plan --users N` "
        "(fleets sized from the capacity measured at the SLO)",
    ]
    if priced.skipped:
        lines += ["", "Not priced"]
        lines += [f"{INDENT}{target}: {why}" for target, why in priced.skipped.items()]
    return "\n".join(lines)
