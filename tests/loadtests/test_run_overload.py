"""An overload run end to end: a real server capped at its knee refuses the surplus with 503,
loses nothing for the clients that got in and recovers after the drop; a server that does not
shed (the cap out of reach) is flagged; the report has its "Under overload" section."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from contract.overload import FLAG_NOT_SHED
from contract.results import TargetResult, load_run
from reports.build import build_report
from tbench.process import TargetProcess

from .fixture_servers import fixture_server
from .tbench_cli import tbench_run

pytestmark = [pytest.mark.slow, pytest.mark.slow]

# A knee of 2 rooms of 50 (one publisher at 2 msg/s each): ×2 and ×4 add rooms the cap refuses,
# ×0.5 leaves one room. No CPU quota: the cap alone decides who gets in.
OVERLOAD = """
description = "test: a short overload"
rooms = 2
users_per_room = 50
publisher_fraction = 0.02
publish_rate_per_s = 2.0
payload_bytes = 64
poll_interval_s = 1.0
long_poll_wait_s = 20.0
spawn_rate = 1000.0
settle_s = 0.5
warmup_s = 1.0
duration_s = 14.0
drain_s = 2.0

[overload]
factors = [1.0, 2.0, 4.0, 0.5]
phase_s = [3.0, 3.0, 3.0, 5.0]
cpu_quota_vcpu = 0
knee_users = 100
"""


def overload(out: Path, *args: str) -> TargetResult:
    scenario = out / "overload.toml"
    scenario.write_text(OVERLOAD)
    done = tbench_run(
        out,
        *("--scenario", str(scenario), "--targets", "sse", "--run-id", "overload", *args),
        timeout_s=180,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return load_run(out / "overload").targets["sse"]


@pytest.fixture(scope="module")
def unshed_sse_server() -> Iterator[TargetProcess]:
    with fixture_server("sse", "tests.loadtests.fixtures.unshed_sse_server:app") as server:
        yield server


def test_a_capped_server_sheds_the_surplus_and_recovers(tmp_path: Path) -> None:
    result = overload(tmp_path, "--no-verify")
    outcome = result.overload
    assert outcome is not None, result.error
    assert outcome.connection_cap == 100
    knee, double, quadruple, drop = outcome.phases
    assert (knee.users, double.users, quadruple.users, drop.users) == (100, 200, 400, 50)
    # the cap held: never more in than the knee, and the surplus heard 503
    assert max(phase.joined for phase in outcome.phases) <= 100
    assert double.refusals.http_503 > 0
    assert quadruple.refusals.http_503 > 0
    assert outcome.verdict.shed
    assert outcome.lost == 0
    assert outcome.recovery_s is not None
    assert outcome.verdict.recovered
    assert drop.delivered_per_s > 0  # the room that stayed kept talking
    assert FLAG_NOT_SHED not in result.flags
    (written,) = build_report(tmp_path / "overload", ["html"])
    report = written.read_text()
    assert 'id="overload"' in report
    assert 'aria-label="fig-overload"' in report  # the timeline drawn, not a note


def test_a_server_that_does_not_shed_is_flagged(
    tmp_path: Path, unshed_sse_server: TargetProcess
) -> None:
    result = overload(
        tmp_path,
        *("--no-verify", "--url", unshed_sse_server.url),
        *("--server-pid", str(unshed_sse_server.pid)),
    )
    outcome = result.overload
    assert outcome is not None, result.error
    assert max(phase.joined for phase in outcome.phases) > 100  # everyone got in...
    assert outcome.refusals.documented == 0  # ...and nobody was refused
    assert not outcome.verdict.shed
    assert FLAG_NOT_SHED in result.flags
