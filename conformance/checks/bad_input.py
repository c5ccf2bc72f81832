"""Bad input gets exactly the specified error, and the server stays healthy afterwards."""

from __future__ import annotations

from conformance.checks.bad_input_http import http_case_failures
from conformance.checks.bad_input_ws import websocket_case_failures
from conformance.checks.health import health_problem, roundtrip_problem
from conformance.context import CheckContext
from conformance.result import Outcome, failed, passed, warned


async def check_bad_input(ctx: CheckContext) -> Outcome:
    """Every bad-input case of docs/protocol.md for the target's family, one after another."""
    if ctx.spec.family == "websocket":
        cases, failures, findings = await websocket_case_failures(ctx)
    else:
        (cases, failures), findings = await http_case_failures(ctx), []
    problem = await health_problem(ctx) or await roundtrip_problem(ctx, "after-bad-input")
    if problem:
        failures.append(f"afterwards the server did not serve a new client: {problem}")
    if failures:
        return failed(f"{len(failures)} of {cases} cases wrong: " + "; ".join(failures))
    if findings:
        return warned(f"{cases} cases answered as specified, but: " + "; ".join(findings))
    return passed(f"{cases} cases answered as specified; healthy and serving new clients after")
