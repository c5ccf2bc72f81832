"""Conformance: verify a target speaks docs/protocol.md before it is benchmarked."""

from __future__ import annotations

from tbench.conformance.result import CheckResult, Status
from tbench.conformance.runner import run_checks, verify_started_target, verify_targets

__all__ = ["CheckResult", "Status", "run_checks", "verify_started_target", "verify_targets"]
