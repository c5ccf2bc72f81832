"""The conformance checks, in the order verify runs them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from conformance.checks.bad_input import check_bad_input
from conformance.checks.delivery import check_delivery
from conformance.checks.health import check_healthz
from conformance.checks.history_lost import check_history_lost
from conformance.checks.isolation import check_isolation
from conformance.checks.keep_alive import check_sse_keep_alive
from conformance.checks.long_poll import check_long_poll
from conformance.checks.resume import check_resume
from conformance.checks.slow_consumer import check_slow_consumer
from conformance.context import CheckContext
from conformance.result import Outcome

Check = Callable[[CheckContext], Awaitable[Outcome]]

CHECKS: dict[str, Check] = {
    "healthz": check_healthz,
    "delivery": check_delivery,
    "isolation": check_isolation,
    "resume": check_resume,
    "history-lost": check_history_lost,
    "long-poll": check_long_poll,
    "sse-keep-alive": check_sse_keep_alive,
    "bad-input": check_bad_input,
    "slow-consumer": check_slow_consumer,
}
