"""Every registered target passes every check, on every broker it can run on: a new target is
tested just by registering it."""

from __future__ import annotations

import pytest

from conformance.checks import CHECKS
from conformance.result import Status
from tests.conformance.brokers import BROKER_TARGETS

pytestmark = pytest.mark.slow  # starts servers or runs: not in `make test-fast`

# Violations found in the real servers and reported to their author. strict: once a server
# is fixed this XPASSes and fails, so the entry is removed rather than forgotten.
KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {}


def _cases() -> list[object]:
    cases: list[object] = []
    for broker, targets in BROKER_TARGETS.items():
        for target in targets:
            for check in CHECKS:
                known = KNOWN_VIOLATIONS.get((target, check))
                marks = [pytest.mark.xfail(reason=known, strict=True)] if known else []
                case_id = f"{broker}-{target}-{check}"
                cases.append(pytest.param(broker, target, check, id=case_id, marks=marks))
    return cases


@pytest.mark.parametrize(("broker", "target", "check"), _cases())
def test_target_passes_check(verified_by_broker, broker, target, check):
    result = verified_by_broker[broker][target].get(check)
    results = verified_by_broker[broker][target]
    assert result is not None, f"{check} did not run: {list(results.values())}"
    assert result.status is not Status.FAIL, result.reason


@pytest.mark.parametrize(
    ("broker", "target"),
    [(broker, target) for broker, targets in BROKER_TARGETS.items() for target in targets],
)
def test_target_survives_verification(verified_by_broker, broker, target):
    results = verified_by_broker[broker][target]
    assert "survived" not in results, results["survived"].reason
    assert "start" not in results, results["start"].reason


def test_checks_that_do_not_apply_say_why(verified):
    for target, results in verified.items():
        for result in results.values():
            if result.status is Status.SKIP:
                assert result.reason, f"{target} {result.check} skipped without a reason"
