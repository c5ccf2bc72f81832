"""Verify targets this process starts, or one already running at a URL, with live progress."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

from rich.console import Console

from conformance.display import VerifyProgress
from conformance.result import CheckResult, Status
from conformance.runner import ProgressCallback, run_checks, unreachable_result, verify_server_args
from contract.addresses import DEFAULT_HOST
from contract.registry import TargetSpec
from tbench.process import Spawn, TargetProcess, TargetStartError


async def verify_started_target(
    spec: TargetSpec,
    *,
    host: str = DEFAULT_HOST,
    only: Sequence[str] | None = None,
    on_progress: ProgressCallback | None = None,
    env: dict[str, str] | None = None,
) -> list[CheckResult]:
    """Start the target with verify's options, run the checks, stop it."""
    args, facts = verify_server_args(spec)
    server = TargetProcess(spec, host=host, extra_args=args, spawn=Spawn(env=env))
    try:
        try:
            await asyncio.to_thread(server.start)
        except TargetStartError as exc:
            return [unreachable_result(spec, f"did not start: {exc}")]
        facts = dataclasses.replace(facts, pid=server.pid)
        results = await run_checks(spec, server.url, facts, only=only, on_progress=on_progress)
        if not server.alive():
            results.append(
                CheckResult(
                    spec.name, "survived", Status.FAIL, "the server exited during verify", 0.0
                )
            )
        return results
    finally:
        await asyncio.to_thread(server.stop)


async def verify_targets(
    specs: Sequence[TargetSpec],
    url: str | None = None,
    *,
    only: Sequence[str] | None = None,
    on_progress: ProgressCallback | None = None,
) -> dict[str, list[CheckResult]]:
    """Verify each target, concurrently (each is its own server); `url` only with one target."""
    if url is not None:
        if len(specs) != 1:
            raise ValueError("--url names one running server, so it takes exactly one target")
        spec = specs[0]
        return {spec.name: await run_checks(spec, url, only=only, on_progress=on_progress)}
    results = await asyncio.gather(
        *(verify_started_target(spec, only=only, on_progress=on_progress) for spec in specs)
    )
    return {spec.name: result for spec, result in zip(specs, results, strict=True)}


def verify_with_progress(
    console: Console, specs: Sequence[TargetSpec], url: str | None = None
) -> dict[str, list[CheckResult]]:
    """Run verify with a live display; returns the results per target."""
    display = VerifyProgress(console, specs)
    with display.progress:
        return asyncio.run(verify_targets(specs, url, on_progress=display))
