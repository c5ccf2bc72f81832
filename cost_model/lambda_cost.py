"""AWS Lambda monthly cost: throughput from concurrency, compute GB-s by tier, requests, /tmp.

The pricing functions take measured quantities (invocations, compute seconds, memory), so the
calculator, the chat model and a priced benchmark run all share them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Literal

from cost_model.charges import (
    FlatCharge,
    TieredCharge,
    flat_charge,
    tiered_charge,
    to_cents,
    whole,
)
from cost_model.init_phase import InitBilling
from cost_model.pricing import Architecture, Pricing
from cost_model.units import MILLION, MS_PER_SECOND, SECONDS_PER_DAY, mb_to_gb


@dataclass(frozen=True)
class Throughput:
    """Request rate at every time scale; `concurrency` and `duration_ms` relate by Little's law."""

    given: Literal["concurrency", "requests_per_month"]  # which the others were derived from
    concurrency: Decimal  # average executions in flight
    duration_ms: Decimal  # average billed duration of one request
    per_second: Decimal
    per_minute: Decimal
    per_hour: Decimal
    per_day: Decimal
    month_days: Decimal
    per_month: Decimal  # whole requests


def seconds_in_month(month_days: Decimal) -> Decimal:
    """Seconds in a month of `month_days` days."""
    return month_days * SECONDS_PER_DAY


def throughput_from_concurrency(
    concurrency: Decimal, duration_ms: Decimal, month_days: Decimal
) -> Throughput:
    """Little's law: requests per second = executions in flight / seconds per request."""
    per_second = concurrency / (duration_ms / MS_PER_SECOND)
    return _throughput(concurrency, duration_ms, per_second, month_days)


def throughput_from_monthly_requests(
    requests_per_month: Decimal, duration_ms: Decimal, month_days: Decimal
) -> Throughput:
    """The average rate of a monthly request count, and the concurrency it implies."""
    per_second = requests_per_month / seconds_in_month(month_days)
    concurrency = per_second * duration_ms / MS_PER_SECOND
    throughput = _throughput(concurrency, duration_ms, per_second, month_days)
    # Keep the count the user gave, not one re-derived through a rounded rate.
    return replace(throughput, given="requests_per_month", per_month=whole(requests_per_month))


def _throughput(
    concurrency: Decimal, duration_ms: Decimal, per_second: Decimal, month_days: Decimal
) -> Throughput:
    return Throughput(
        given="concurrency",
        concurrency=concurrency,
        duration_ms=duration_ms,
        per_second=per_second,
        per_minute=per_second * 60,
        per_hour=per_second * 3_600,
        per_day=per_second * SECONDS_PER_DAY,
        month_days=month_days,
        per_month=whole(per_second * seconds_in_month(month_days)),
    )


def compute_seconds(requests: Decimal, duration_ms: Decimal) -> Decimal:
    """Total billed compute time of `requests` requests of `duration_ms` each."""
    return requests * duration_ms / MS_PER_SECOND


@dataclass(frozen=True)
class ComputeCharge:
    """Compute: seconds x memory = GB-s, less the free tier, priced tier by tier."""

    architecture: Architecture
    compute_seconds: Decimal
    memory_mb: Decimal
    memory_gb: Decimal
    gb_seconds: Decimal
    free_gb_seconds: Decimal  # zero when the free tier is not applied
    net_gb_seconds: Decimal  # GB-s less the free tier; negative when the free tier covers all
    billable_gb_seconds: Decimal
    charge: TieredCharge


def price_compute(
    seconds: Decimal,
    memory_mb: Decimal,
    pricing: Pricing,
    architecture: Architecture = "x86_64",
    free_tier: bool = True,
) -> ComputeCharge:
    """Price `seconds` of compute at `memory_mb` on one architecture."""
    lambda_pricing = pricing.lambda_
    memory_gb = mb_to_gb(memory_mb)
    gb_seconds = memory_gb * seconds
    free = Decimal(lambda_pricing.free_tier.gb_seconds) if free_tier else Decimal(0)
    net = gb_seconds - free
    billable = max(net, Decimal(0))
    charge = tiered_charge(billable, lambda_pricing.compute_rate(architecture))
    return ComputeCharge(
        architecture, seconds, memory_mb, memory_gb, gb_seconds, free, net, billable, charge
    )


@dataclass(frozen=True)
class RequestCharge:
    """Requests, less the free tier, at the per-request price."""

    requests: Decimal
    free_requests: Decimal  # zero when the free tier is not applied
    net_requests: Decimal  # requests less the free tier; negative when the free tier covers all
    billable_requests: Decimal
    charge: FlatCharge


def price_requests(requests: Decimal, pricing: Pricing, free_tier: bool = True) -> RequestCharge:
    """Price a month's invocations."""
    lambda_pricing = pricing.lambda_
    free = Decimal(lambda_pricing.free_tier.requests) if free_tier else Decimal(0)
    net = requests - free
    billable = max(net, Decimal(0))
    charge = flat_charge(billable, lambda_pricing.requests)
    return RequestCharge(requests, free, net, billable, charge)


@dataclass(frozen=True)
class EphemeralStorageCharge:
    """/tmp storage above the included size, per GB-second of compute."""

    ephemeral_mb: Decimal
    ephemeral_gb: Decimal
    included_gb: Decimal
    billable_gb: Decimal
    gb_seconds: Decimal
    charge: FlatCharge


def price_ephemeral_storage(
    seconds: Decimal, ephemeral_mb: Decimal, pricing: Pricing
) -> EphemeralStorageCharge:
    """Price the configured /tmp size over `seconds` of compute."""
    rate = pricing.lambda_.ephemeral_storage
    ephemeral_gb = mb_to_gb(ephemeral_mb)
    included_gb = mb_to_gb(Decimal(rate.included_mb))
    billable_gb = max(ephemeral_gb - included_gb, Decimal(0))
    gb_seconds = billable_gb * seconds
    return EphemeralStorageCharge(
        ephemeral_mb,
        ephemeral_gb,
        included_gb,
        billable_gb,
        gb_seconds,
        flat_charge(gb_seconds, rate),
    )


@dataclass(frozen=True)
class InitCharge:
    """Cold starts' INIT phase: GB-s at the compute rates since 2025-08-01 (`init_phase`)."""

    rule: InitBilling
    invocations: Decimal  # invocations that ran an INIT phase (cold starts)
    seconds: Decimal  # INIT time as billed: what it adds to the rounded durations
    gb_seconds: Decimal
    exact_usd: Decimal  # what these GB-s add to the compute charge; 0 under the "free" rule
    usd: Decimal


NO_INIT = InitCharge("billed", Decimal(0), Decimal(0), Decimal(0), Decimal(0), Decimal(0))


@dataclass(frozen=True, kw_only=True)
class LambdaUsage:
    """A month of invocations: how many, their billed compute seconds without INIT, and the
    cold starts among them with the billed seconds their INIT adds."""

    requests: Decimal
    seconds: Decimal
    init_invocations: Decimal = Decimal(0)
    init_seconds: Decimal = Decimal(0)


@dataclass(frozen=True, kw_only=True)
class LambdaFunction:
    """What a function's configuration brings to its bill: memory, architecture, /tmp size."""

    memory_mb: Decimal
    architecture: Architecture = "x86_64"
    ephemeral_mb: Decimal = Decimal(512)


def price_init(
    usage: LambdaUsage,
    compute: ComputeCharge,
    pricing: Pricing,
    *,
    rule: InitBilling = "billed",
    free_tier: bool = True,
) -> InitCharge:
    """Price `usage`'s INIT seconds on top of `compute`: same tiers and free tier, so what
    they add."""
    seconds = usage.init_seconds
    gb_seconds = compute.memory_gb * seconds
    exact = Decimal(0)
    if rule == "billed" and seconds > 0:
        with_init = price_compute(
            compute.compute_seconds + seconds,
            compute.memory_mb,
            pricing,
            compute.architecture,
            free_tier,
        )
        exact = with_init.charge.exact_usd - compute.charge.exact_usd
    return InitCharge(rule, usage.init_invocations, seconds, gb_seconds, exact, to_cents(exact))


@dataclass(frozen=True)
class LambdaBill:
    """A month of Lambda: compute, requests, ephemeral storage and INIT lines, and their total."""

    free_tier: bool
    compute: ComputeCharge
    requests: RequestCharge
    ephemeral_storage: EphemeralStorageCharge
    total_usd: Decimal  # the sum of the cent-rounded lines
    init: InitCharge = NO_INIT  # cold starts' INIT phase, its own line


def lambda_bill(
    usage: LambdaUsage,
    function: LambdaFunction,
    pricing: Pricing,
    *,
    free_tier: bool = True,
    init_billing: InitBilling = "billed",
) -> LambdaBill:
    """A month's Lambda bill from invocations and their total billed compute seconds.

    `usage.seconds` leaves INIT out; its `init_seconds` is the billed INIT time of its
    `init_invocations` cold starts, priced as its own line by `init_billing`'s rule.
    """
    compute = price_compute(
        usage.seconds, function.memory_mb, pricing, function.architecture, free_tier
    )
    init = price_init(usage, compute, pricing, rule=init_billing, free_tier=free_tier)
    request_charge = price_requests(usage.requests, pricing, free_tier)
    storage = price_ephemeral_storage(usage.seconds, function.ephemeral_mb, pricing)
    total = compute.charge.usd + init.usd + request_charge.charge.usd + storage.charge.usd
    return LambdaBill(free_tier, compute, request_charge, storage, to_cents(total), init)


@dataclass(frozen=True)
class LambdaEstimate:
    """The calculator's answer: the workload's throughput and the bill it produces."""

    throughput: Throughput
    bill: LambdaBill
    cold_start_percent: Decimal = Decimal(0)  # share of requests that ran an INIT phase
    init_duration_ms: Decimal = Decimal(0)  # billed INIT ms of one cold start


@dataclass(frozen=True, kw_only=True)
class ColdStarts:
    """How many requests start cold, the INIT each is billed, and the rule that prices it."""

    percent: Decimal = Decimal(0)  # share of requests that run an INIT phase
    init_duration_ms: Decimal = Decimal(0)  # billed INIT ms of one cold start
    billing: InitBilling = "billed"


NO_COLD_STARTS = ColdStarts()


def estimate_lambda(
    throughput: Throughput,
    function: LambdaFunction,
    pricing: Pricing,
    *,
    free_tier: bool = True,
    cold_starts: ColdStarts = NO_COLD_STARTS,
) -> LambdaEstimate:
    """Price a steady workload for a month (the `tbench cost lambda` calculator)."""
    requests = throughput.per_month
    cold = requests * cold_starts.percent / 100
    usage = LambdaUsage(
        requests=requests,
        seconds=compute_seconds(requests, throughput.duration_ms),
        init_invocations=cold,
        init_seconds=compute_seconds(cold, cold_starts.init_duration_ms),
    )
    bill = lambda_bill(
        usage, function, pricing, free_tier=free_tier, init_billing=cold_starts.billing
    )
    return LambdaEstimate(throughput, bill, cold_starts.percent, cold_starts.init_duration_ms)


def usd_per_million_invocations(
    billed_duration_ms: Decimal,
    memory_mb: Decimal,
    pricing: Pricing,
    architecture: Architecture = "x86_64",
) -> Decimal:
    """Compute and requests of a million invocations of `billed_duration_ms` each, unrounded
    and without the free tier (what `tbench lambda tune` compares memory sizes by)."""
    bill = lambda_bill(
        LambdaUsage(requests=MILLION, seconds=compute_seconds(MILLION, billed_duration_ms)),
        LambdaFunction(memory_mb=memory_mb, architecture=architecture),
        pricing,
        free_tier=False,
    )
    return bill.compute.charge.exact_usd + bill.requests.charge.exact_usd
