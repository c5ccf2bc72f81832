"""Run every check against a target: one started here, or one already running at a URL."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence

import httpx

from conformance import endpoints
from conformance.checks import CHECKS, Check
from conformance.context import CheckContext, ServerFacts
from conformance.result import CheckResult, Status, failed
from contract.registry import ASGI_LAUNCHER, TargetSpec

CHECK_TIMEOUT_S = 90.0
VERIFY_SSE_PING_S = 1.0  # short, so the keep-alive check takes a second, not fifteen
VERIFY_QUEUE_SIZE = 64  # small, so the slow-consumer check overflows it in a few MiB
# Small, so the history-lost check passes it in about a thousand publishes; above what the
# slow-consumer check resumes (up to ~700 messages into one room).
VERIFY_HISTORY_SIZE = 1_000

ProgressCallback = Callable[[TargetSpec, str, CheckResult | None], None]
"""Called with (target, check, None) when a check starts, and with its result when it ends."""


def verify_server_args(spec: TargetSpec) -> tuple[tuple[str, ...], ServerFacts]:
    """Extra launch options for a target verify starts itself, and the facts they set.

    Only the shared launcher is known to take these options; other launchers (the Lambda
    emulator) are started as registered and checked against the protocol's defaults, the
    emulator without its CPU model: the checks are about the protocol, and their timing
    assumes a server at full speed (throttled invocations of one sender's quick publishes
    finish out of order, as concurrent ones may on AWS; the run measures that).
    """
    if spec.no_cpu_model_option is not None:
        return spec.cpu_model_args(False), ServerFacts()
    if spec.launcher != ASGI_LAUNCHER:
        return (), ServerFacts()
    args: tuple[str, ...] = ("--history-size", str(VERIFY_HISTORY_SIZE))
    facts = ServerFacts(history_size=VERIFY_HISTORY_SIZE)
    if spec.family in ("sse", "websocket"):
        args += ("--queue-size", str(VERIFY_QUEUE_SIZE))
        facts = dataclasses.replace(facts, queue_size=VERIFY_QUEUE_SIZE)
    if spec.family == "sse":
        args += ("--sse-ping-s", str(VERIFY_SSE_PING_S))
        facts = dataclasses.replace(facts, sse_ping_s=VERIFY_SSE_PING_S)
    return args, facts


def new_http_client() -> httpx.AsyncClient:
    """The HTTP client the checks share: enough connections for held polls and streams."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(10.0),
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
    )


async def run_check(name: str, check: Check, ctx: CheckContext) -> CheckResult:
    """Run one check, turning a crash or a hang into a FAIL that says what happened."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            outcome = await check(ctx)
    except TimeoutError:
        outcome = failed(f"did not finish within {CHECK_TIMEOUT_S:g} s")
    except Exception as exc:  # a check that crashes reports why, the others still run
        outcome = failed(f"{type(exc).__name__}: {exc}")
    return CheckResult(
        ctx.spec.name, name, outcome.status, outcome.reason, time.monotonic() - started
    )


async def run_checks(
    spec: TargetSpec,
    base_url: str,
    facts: ServerFacts | None = None,
    *,
    only: Sequence[str] | None = None,
    on_progress: ProgressCallback | None = None,
) -> list[CheckResult]:
    """Run the checks (all, or `only` those) one after another against `base_url`."""
    results: list[CheckResult] = []
    async with new_http_client() as http:
        ctx = CheckContext(spec, base_url, http, facts or ServerFacts())
        for name, check in CHECKS.items():
            if only is not None and name not in only:
                continue
            if on_progress:
                on_progress(spec, name, None)
            result = await run_check(name, check, ctx)
            results.append(result)
            if on_progress:
                on_progress(spec, name, result)
            if name == "healthz" and result.status is Status.FAIL:
                break  # nothing else can be meaningful against a server that is not there
    return results


def unreachable_result(spec: TargetSpec, reason: str) -> CheckResult:
    """The single result of a target that could not be started or reached."""
    return CheckResult(spec.name, "start", Status.FAIL, reason, 0.0)


def reachability_problem(base_url: str, timeout_s: float = 5.0) -> str | None:
    """Why `/healthz` under `base_url` does not answer 200, or None if it does."""
    try:
        url = endpoints.health_url(base_url)
        status = httpx.get(url, timeout=timeout_s).status_code
    except (httpx.HTTPError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if status == 200 else f"{url} answered {status}"
