"""What a conformance check concludes: a status and a specific reason."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Status(enum.Enum):
    """A check's verdict; only FAIL keeps a target from being measured."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class Outcome:
    """A check's verdict and the reason for it, before the runner labels it."""

    status: Status
    reason: str


def passed(reason: str) -> Outcome:
    """A PASS outcome."""
    return Outcome(Status.PASS, reason)


def warned(reason: str) -> Outcome:
    """A WARN outcome: conformant, but worth a look."""
    return Outcome(Status.WARN, reason)


def failed(reason: str) -> Outcome:
    """A FAIL outcome: the target breaks the protocol."""
    return Outcome(Status.FAIL, reason)


def skipped(reason: str) -> Outcome:
    """A SKIP outcome: the check does not apply to this target."""
    return Outcome(Status.SKIP, reason)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's verdict for one target."""

    target: str
    check: str
    status: Status
    reason: str
    duration_s: float
