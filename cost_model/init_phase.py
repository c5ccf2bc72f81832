"""Lambda's INIT phase (cold starts) in the bill: the rule since 2025-08-01, and the one before.

AWS, "AWS Lambda standardizes billing for INIT Phase" (Compute Blog, April 2025):
https://aws.amazon.com/blogs/compute/aws-lambda-standardizes-billing-for-init-phase/
From August 1, 2025 the INIT phase of on-demand invocations of ZIP functions on managed runtimes
is billed like the invocation itself (its duration, rounded up to the millisecond, at the
function's memory, per GB-s); container images, custom runtimes and provisioned concurrency
were billed for it already. Before, a ZIP function's `Billed Duration` left `Init Duration` out.

Where INIT is billed, the REPORT line's `Billed Duration` rounds INIT and Duration up together:
Init Duration 1,307.68 ms + Duration 1,058.15 ms is billed 2,366 ms, not 1,308 + 1,059 = 2,367
(a container function, measured in
https://lucvandonkersgoed.com/2022/04/09/when-is-the-lambda-init-phase-free-and-when-is-it-billed/).
So the INIT part of a cold start's bill is what INIT adds to the rounded duration.
"""

from __future__ import annotations

from typing import Literal

from contract.lambda_report import LambdaReport, billed_duration_ms

InitBilling = Literal["billed", "free"]
INIT_BILLING_RULES: tuple[InitBilling, ...] = ("billed", "free")
INIT_BILLED_SINCE = "2025-08-01"
INIT_BILLING_SOURCE = (
    "https://aws.amazon.com/blogs/compute/aws-lambda-standardizes-billing-for-init-phase/"
)


def describe_rule(rule: InitBilling) -> str:
    """The rule in a few words, for bills and reports."""
    if rule == "billed":
        return f"billed since {INIT_BILLED_SINCE}"
    return f"not billed: the rule before {INIT_BILLED_SINCE}"


def init_billed_ms(report: LambdaReport) -> int:
    """Milliseconds a cold start's INIT adds to its billed duration (0 on a warm invocation)."""
    if report.init_duration_ms is None:
        return 0
    with_init = billed_duration_ms(report.duration_ms + report.init_duration_ms)
    return with_init - billed_duration_ms(report.duration_ms)


def invoke_billed_ms(report: LambdaReport) -> int:
    """The invocation's billed milliseconds without INIT, whether or not the log included it."""
    init = report.init_duration_ms
    # A Billed Duration that covers Duration + Init Duration is one written under the new rule
    # (real AWS since 2025-08-01, or a container function); the emulator's leaves INIT out.
    if init is not None and report.billed_duration_ms >= report.duration_ms + init:
        return report.billed_duration_ms - init_billed_ms(report)
    return report.billed_duration_ms
