"""`tbench run --faults`: inject the server-side faults on schedule, then turn what the load
generator measured per fault slot into `FaultOutcome` rows.

`restart` (kill -9, start again on the same port) and `drop` (`POST /_admin/drop`: the server
closes every client connection) happen here; `slow` happens in the clients (a drawn fraction
stops reading, see loadtests.users.base), so here it is only timed and its memory read.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from conformance.endpoints import http_root
from contract.loadgen import FaultMeasurement
from contract.results import FaultOutcome
from contract.scenario import FaultSlot, Scenario
from servers.http_common import ADMIN_DROP_PATH
from tbench.process import TargetStartError
from tbench.runner.targets import StartedTarget, TargetHandle

ADMIN_OPTION = "--admin"  # what both launchers take to serve it
DROP_TIMEOUT_S = 10.0


@dataclass(slots=True)
class Injection:
    """What happened when one fault was injected."""

    injected_at: float | None = None
    error: str | None = None
    server_down_s: float | None = None  # restart
    dropped: int | None = None  # drop


def refusal(kinds: Iterable[str], started_here: bool, cluster: bool) -> str | None:
    """Why these faults cannot be run on such a target, or None."""
    kinds = list(kinds)
    if cluster:
        return "--faults measures one server per target; drop --replicas/--broker"
    if "restart" in kinds and not started_here:
        return (
            "--faults restart kills and starts the server, so it needs a target started here "
            "(not --url/--target-url)"
        )
    return None


class FaultInjector:
    """Injects each slot's fault once, when its time has come."""

    def __init__(self, handle: TargetHandle) -> None:
        self.handle = handle
        self.injections: dict[int, Injection] = {}

    def poll(self, slots: list[FaultSlot]) -> list[tuple[FaultSlot, Injection]]:
        """Inject every fault whose time has come and that was not injected yet."""
        done = []
        for index, slot in enumerate(slots):
            if index in self.injections or time.time() < slot.at:
                continue
            injection = self.inject(slot)
            self.injections[index] = injection
            done.append((slot, injection))
        return done

    def inject(self, slot: FaultSlot) -> Injection:
        """Inject one fault now; a failure is recorded, not raised (the run goes on)."""
        injection = Injection(injected_at=time.time())
        try:
            if slot.kind == "restart":
                injection.server_down_s = round(self._restart(), 3)
            elif slot.kind == "drop":
                injection.dropped = self._drop()
        except (OSError, httpx.HTTPError, TargetStartError, ValueError) as exc:
            injection.error = f"{type(exc).__name__}: {exc}"
        return injection

    def _restart(self) -> float:
        if not isinstance(self.handle, StartedTarget):
            raise ValueError("restart needs a target started by this run")
        return self.handle.process.restart()

    def _drop(self) -> int:
        response = httpx.post(http_root(self.handle.url) + ADMIN_DROP_PATH, timeout=DROP_TIMEOUT_S)
        if response.status_code == 404:
            raise ValueError(f"the target has no {ADMIN_DROP_PATH}: start it with {ADMIN_OPTION}")
        response.raise_for_status()
        return int(response.json()["dropped"])


def _server_rows(rows: list[dict[str, float]]) -> list[dict[str, float]]:
    return [row for row in rows if row["server_processes"] > 0]


def rss_around(
    rows: list[dict[str, float]], at: float, end: float
) -> tuple[int | None, int | None]:
    """Server RSS at the last sample before `at`, and its peak over [at, end]."""
    server = _server_rows(rows)
    before = [row["server_rss_bytes"] for row in server if row["time"] < at]
    during = [row["server_rss_bytes"] for row in server if at <= row["time"] <= end]
    return (
        int(before[-1]) if before else None,
        int(max(during)) if during else None,
    )


def resume_covers_s(scenario: Scenario, history_size: int | None, resumes: bool) -> float | None:
    """How long an outage cursor resume bridges: the history ring at the room's publish rate."""
    rate = scenario.room_publish_rate_per_s
    if not resumes or history_size is None or rate <= 0:
        return None
    return round(history_size / rate, 1)


def fault_outcomes(
    measured: list[FaultMeasurement],
    injections: dict[int, Injection],
    rows: list[dict[str, float]],
    late_after_s: float,
    covers_s: float | None,
) -> list[FaultOutcome]:
    """One row per fault slot: the load generator's figures, the injection, server memory."""
    outcomes = []
    for index, measurement in enumerate(measured):
        slot = measurement.slot
        injection = injections.get(index) or Injection(error="not injected (the run ended first)")
        if slot.kind == "slow" and injection.error is None:
            injection.injected_at = slot.at  # the clients pause on schedule
        hit_at = injection.injected_at or slot.at
        rss_before, rss_peak = rss_around(rows, hit_at, slot.end)
        back_by = measurement.back_by
        outcomes.append(
            FaultOutcome(
                kind=slot.kind,
                window_start=slot.start,
                window_end=slot.end,
                planned_at=slot.at,
                injected_at=injection.injected_at,
                error=injection.error,
                server_down_s=injection.server_down_s,
                dropped=injection.dropped,
                slow_clients=measurement.slow_clients if slot.kind == "slow" else None,
                reconnects=measurement.reconnects,
                not_reconnected=measurement.not_reconnected,
                reconnect_p50_ms=_rounded(measurement.reconnect_p50_ms),
                reconnect_max_ms=_rounded(measurement.reconnect_max_ms),
                recovered_s=(
                    round(back_by - hit_at, 3)
                    if back_by is not None and injection.injected_at is not None
                    else None
                ),
                expected=measurement.expected,
                delivered=measurement.delivered,
                lost=measurement.lost,
                lost_everywhere=measurement.lost_everywhere,
                duplicated=measurement.duplicated,
                late=measurement.late,
                late_after_s=late_after_s,
                rss_before_bytes=rss_before,
                rss_peak_bytes=rss_peak,
                resume_covers_s=covers_s,
            )
        )
    return outcomes


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
