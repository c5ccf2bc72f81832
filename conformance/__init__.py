"""Conformance: verify a target speaks docs/protocol.md before it is benchmarked."""

from __future__ import annotations

from conformance.result import CheckResult, Status
from conformance.runner import run_checks

__all__ = ["CheckResult", "Status", "run_checks"]
