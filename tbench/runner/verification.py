"""Verify before benchmark (TechEmpower's rule): a target failing conformance is not measured."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from conformance import CheckResult, Status
from contract.registry import TargetSpec
from contract.results import Verification as VerificationRecord
from tbench.verify import verify_targets


@dataclass(frozen=True)
class Verification:
    """The conformance verdict on one target."""

    passed: bool
    counts: dict[str, int]
    failures: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    def to_record(self) -> VerificationRecord:
        """For run.json."""
        return VerificationRecord(
            passed=self.passed,
            counts=self.counts,
            failures=self.failures,
            duration_s=round(self.duration_s, 2),
        )


def _verdict(results: list[CheckResult], duration_s: float) -> Verification:
    counts = {status.value: 0 for status in Status}
    for result in results:
        counts[result.status.value] += 1
    failures = [f"{r.check}: {r.reason}" for r in results if r.status is Status.FAIL]
    return Verification(not failures and bool(results), counts, failures, duration_s)


async def _verify(specs: list[TargetSpec], urls: Mapping[str, str]) -> dict[str, list[CheckResult]]:
    # each started target is verified on a fresh instance verify starts and stops itself;
    # a given one (compose, AWS) at its URL
    started = [spec for spec in specs if spec.name not in urls]
    given = [spec for spec in specs if spec.name in urls]
    outcomes = await asyncio.gather(
        verify_targets(started), *(verify_targets([spec], urls[spec.name]) for spec in given)
    )
    return {name: checks for outcome in outcomes for name, checks in outcome.items()}


def verify_all(specs: list[TargetSpec], urls: Mapping[str, str]) -> dict[str, Verification]:
    """Run `tbench verify`'s checks on every target at once: started here, or at its URL."""
    started = time.monotonic()
    results = asyncio.run(_verify(specs, urls))
    duration_s = time.monotonic() - started
    return {name: _verdict(checks, duration_s) for name, checks in results.items()}
