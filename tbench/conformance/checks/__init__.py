"""The conformance checks, in the order verify runs them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tbench.conformance.checks.bad_input import check_bad_input
from tbench.conformance.checks.delivery import check_delivery
from tbench.conformance.checks.health import check_healthz
from tbench.conformance.checks.isolation import check_isolation
from tbench.conformance.checks.keep_alive import check_sse_keep_alive
from tbench.conformance.checks.long_poll import check_long_poll
from tbench.conformance.checks.resume import check_resume
from tbench.conformance.checks.slow_consumer import check_slow_consumer
from tbench.conformance.context import CheckContext
from tbench.conformance.result import Outcome

Check = Callable[[CheckContext], Awaitable[Outcome]]

CHECKS: dict[str, Check] = {
    "healthz": check_healthz,
    "delivery": check_delivery,
    "isolation": check_isolation,
    "resume": check_resume,
    "long-poll": check_long_poll,
    "sse-keep-alive": check_sse_keep_alive,
    "bad-input": check_bad_input,
    "slow-consumer": check_slow_consumer,
}
