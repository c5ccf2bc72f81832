"""Lambda execution environments as real worker processes: reuse, queueing, limits, failures."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from contract.lambda_report import EmulatorRecord, LambdaReport
from servers.lambda_ws.environments import (
    EnvironmentSetup,
    FunctionConfig,
    Invocation,
    LambdaService,
    ServiceLimits,
)
from tests.waiting import wait_until_async

pytestmark = pytest.mark.timeout(60)

MODULE = "tests.servers.lambda_ws.tiny_handlers"
HOLD = FunctionConfig("HoldFunction", MODULE, "hold", memory_mb=128, timeout_s=5.0)
FAIL = FunctionConfig("FailFunction", MODULE, "fail", memory_mb=128, timeout_s=5.0)


def run(limits: ServiceLimits, log: Path, scenario: Any) -> tuple[Any, dict[str, Any]]:
    """Run `scenario(service)` against a fresh service; its result and the final stats."""

    async def main() -> tuple[Any, dict[str, Any]]:
        functions = {f.name: f for f in (HOLD, FAIL)}
        service = LambdaService(functions, limits, EnvironmentSetup(), report_log=log)
        await service.start()
        try:
            return await scenario(service), service.snapshot()
        finally:
            await service.close()

    return asyncio.run(main())


def log_lines(log: Path) -> tuple[list[LambdaReport], list[EmulatorRecord]]:
    lines = log.read_text().splitlines()
    reports = [r for r in map(LambdaReport.parse, lines) if r is not None]
    records = [r for r in map(EmulatorRecord.parse, lines) if r is not None]
    return reports, records


def test_an_environment_is_reused_and_init_reported_once(tmp_path: Path) -> None:
    async def scenario(service: LambdaService) -> list[Invocation]:
        return [await service.invoke("HoldFunction", {}) for _ in range(3)]

    calls, stats = run(ServiceLimits(max_workers=2), tmp_path / "r.log", scenario)
    assert [call.status for call in calls] == ["ok"] * 3
    assert len({call.result["pid"] for call in calls}) == 1  # one process served all three
    assert [call.result["request_id"] for call in calls] == [call.request_id for call in calls]
    reports, _ = log_lines(tmp_path / "r.log")
    assert [report.init_duration_ms is not None for report in reports] == [True, False, False]
    assert (stats["invocations"], stats["cold_starts"]) == (3, 1)


def test_beyond_the_worker_cap_invocations_wait_and_the_wait_is_reported(tmp_path: Path) -> None:
    async def scenario(service: LambdaService) -> list[Invocation]:
        return list(
            await asyncio.gather(
                service.invoke("HoldFunction", {"sleep_s": 0.5}),
                service.invoke("HoldFunction", {"sleep_s": 0.5}),
            )
        )

    calls, stats = run(ServiceLimits(max_workers=1), tmp_path / "r.log", scenario)
    assert [call.status for call in calls] == ["ok", "ok"]  # queued, not throttled
    _, records = log_lines(tmp_path / "r.log")
    assert max(record.queue_wait_ms for record in records) >= 400
    assert stats["queued_invocations"] == 1
    assert stats["queue_wait_ms_max"] >= 400
    assert stats["throttles"] == 0


def test_beyond_the_concurrency_limit_invocations_are_throttled(tmp_path: Path) -> None:
    async def scenario(service: LambdaService) -> list[Invocation]:
        return list(
            await asyncio.gather(
                *(service.invoke("HoldFunction", {"sleep_s": 0.5}) for _ in range(3))
            )
        )

    calls, stats = run(ServiceLimits(concurrency_limit=2), tmp_path / "r.log", scenario)
    assert sorted(call.status for call in calls) == ["ok", "ok", "throttled"]
    assert (stats["throttles"], stats["invocations"]) == (1, 2)
    reports, _ = log_lines(tmp_path / "r.log")
    assert len(reports) == 2  # a throttled invocation never ran: no REPORT line


def test_an_idle_environment_of_another_function_makes_room(tmp_path: Path) -> None:
    async def scenario(service: LambdaService) -> list[Invocation]:
        return [await service.invoke(name, {}) for name in ("HoldFunction", "FailFunction")]

    calls, stats = run(ServiceLimits(max_workers=1), tmp_path / "r.log", scenario)
    assert [call.status for call in calls] == ["ok", "error"]
    assert calls[1].error is not None
    assert calls[1].error["errorType"] == "ValueError"
    assert (stats["environments_evicted"], stats["cold_starts"]) == (1, 2)


def test_a_function_past_its_timeout_is_stopped(tmp_path: Path) -> None:
    quick = FunctionConfig("HoldFunction", MODULE, "hold", memory_mb=128, timeout_s=0.5)

    async def scenario(service: LambdaService) -> list[Invocation]:
        service.functions["HoldFunction"] = quick
        first = await service.invoke("HoldFunction", {"sleep_s": 3})
        return [first, await service.invoke("HoldFunction", {})]

    calls, stats = run(ServiceLimits(), tmp_path / "r.log", scenario)
    assert [call.status for call in calls] == ["timeout", "ok"]
    reports, _ = log_lines(tmp_path / "r.log")
    assert reports[0].status == "timeout"
    assert reports[1].init_duration_ms is not None  # the timed-out environment was replaced
    assert (stats["timeouts"], stats["cold_starts"]) == (1, 2)


def test_idle_environments_are_reclaimed(tmp_path: Path) -> None:
    async def scenario(service: LambdaService) -> dict[str, Any]:
        await service.invoke("HoldFunction", {})
        await wait_until_async(
            lambda: service.snapshot()["environments_live"] == 0,
            "the idle environment reclaimed and shut down",
        )
        return service.snapshot()

    after, _ = run(ServiceLimits(idle_reclaim_s=0.2), tmp_path / "r.log", scenario)
    assert after["environments_reclaimed"] == 1
    assert after["environments_live"] == 0
