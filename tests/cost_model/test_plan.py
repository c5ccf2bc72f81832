"""`tbench plan`: one row per transport at the user's scale, from a run's measured capacity."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from contract.capacity import capacity_of
from contract.results import load_run, save_run
from cost_model.at_scale import chat_scale
from cost_model.plan import plan
from cost_model.plan_sources import find_sources
from cost_model.pricing import load_pricing
from tests.contract.capacity_steps import ramp
from tests.cost_model.measured_run import write_run

pytestmark = pytest.mark.slow  # starts servers or runs: not in `make test-fast`

QUOTA = 0.25
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def capacity_run(tmp_path: Path) -> Path:
    """The tiny priced run, with websocket's and sse's capacity measured under 0.25 vCPU."""
    run_dir = write_run(tmp_path / "results" / "tiny-run")
    run = load_run(run_dir)
    fast = ramp(
        (1_000, 5, True),
        (2_000, 20, True),
        (3_000, 400, False),
        users_per_step=50,
        rss_mb_per_step=1,
    )
    slow = ramp((500, 30, True), (800, 300, False), users_per_step=50, rss_mb_per_step=1)
    for name, steps in (("websocket", fast), ("sse", slow)):
        result = run.targets[name]
        result.status = result.status.OK
        result.error = None
        result.capacity = capacity_of(steps, cpu_quota_vcpu=QUOTA, slo_p99_ms=100, base_rss_mb=50)
        result.metrics |= {
            "delivered": 10_000,
            "bytes_received": 4_270_000,
            "bytes_sent": 500_000,
            "requests_per_delivered": 0.02,
        }
    save_run(run_dir, run)
    return run_dir


def tbench_plan(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tbench.cli", "plan", *args],
        cwd=cwd,  # where results/ is looked for
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_plan_json_has_a_row_per_transport_with_tasks_p99_and_the_bill(capacity_run: Path):
    done = tbench_plan(capacity_run.parents[1], "--users", "100000", "--json")
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    rows = {row["transport"]: row for row in plan["rows"]}
    assert set(rows) == {"websocket", "sse", "lambda"}
    # 100,000 users x 0.2 posting x 0.2 msg/s x 10 members = 40,000 deliveries/s
    assert float(plan["scale"]["deliveries_per_s"]) == 40_000
    assert rows["websocket"]["servers"].startswith("20 × 0.25 vCPU")  # 40,000 / 2,000
    assert rows["sse"]["servers"].startswith("80 × 0.25 vCPU")  # 40,000 / 500
    assert rows["websocket"]["p99_ms"] == 20
    assert set(rows["websocket"]["monthly_usd"]) == {"compute", "load balancer", "data transfer"}
    assert set(rows["lambda"]["monthly_usd"]) == {
        "API Gateway", "Lambda", "INIT", "DynamoDB", "data transfer"
    }  # fmt: skip
    assert float(rows["sse"]["total_usd"]) > float(rows["websocket"]["total_usd"])
    assert plan["cheapest"] == "websocket"


def test_plan_without_a_capacity_run_says_how_to_get_one(tmp_path: Path):
    done = tbench_plan(tmp_path, "--users", "1000")
    assert done.returncode == 2
    assert "measured capacity" in done.stderr


def test_bad_scale_names_the_field(capacity_run: Path):
    done = tbench_plan(capacity_run.parents[1], "--users", "1000", "--users-per-room", "0")
    assert done.returncode == 2
    assert "users_per_room" in done.stderr


def test_a_crossed_quota_is_said_in_words(capacity_run: Path):
    done = tbench_plan(
        capacity_run.parents[1], "--users", "3000000", "--session-minutes", "60", "--json"
    )
    assert done.returncode == 0, done.stderr
    warnings = json.loads(done.stdout)["warnings"]
    assert any("new connections/s is over API Gateway's 500" in w for w in warnings), warnings


def test_crossover_is_the_fewest_users_at_which_serverless_is_dearer(capacity_run: Path):
    done = tbench_plan(capacity_run.parents[1], "--users", "1000", "--json")
    assert done.returncode == 0, done.stderr
    crossings = {c["containers"]: c for c in json.loads(done.stdout)["crossovers"]}
    assert set(crossings) == {"websocket", "sse"}
    found = find_sources(capacity_run.parents[1])
    serverless = found.serverless
    assert serverless is not None
    scale = chat_scale(1)

    def totals(users: int, name: str) -> tuple[Decimal, Decimal]:
        transport = [t for t in found.containers if t.name == name]
        fleet, lam = plan(replace(scale, users=users), transport, serverless, load_pricing()).rows
        assert fleet.total_usd is not None
        assert lam.total_usd is not None
        return fleet.total_usd, lam.total_usd

    for name, crossing in crossings.items():
        users = crossing["users"]
        assert users is not None, crossing
        assert not crossing["dearer_from_start"], crossing
        fleet, lam = totals(users, name)
        assert lam > fleet, (name, users, fleet, lam)
        fleet, lam = totals(users - 1, name)
        assert lam <= fleet, (name, users - 1, fleet, lam)
    # one task each at the crossing: a fleet's floor is one task and the balancer's hour
    assert crossings["sse"]["users"] == crossings["websocket"]["users"]
