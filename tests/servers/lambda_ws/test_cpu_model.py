"""Lambda's CPU model: real cgroup quotas on real worker processes, and no groups left behind.

Needs root and a cgroup hierarchy with the cpu controller (the sessions and CI have both);
elsewhere the enforcing tests are skipped and the unmodelled path is what runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from servers.cgroups import ROOT_ENV, find_hierarchy
from servers.lambda_ws.cpu_model import (
    GROUP_DIR,
    CpuModel,
    MemorySizeError,
    check_memory_mb,
    quota_us,
    quotas_available,
    sweep_stale,
    vcpus_for,
)
from servers.lambda_ws.environments import (
    EnvironmentSetup,
    FunctionConfig,
    Invocation,
    LambdaService,
    ServiceLimits,
)
from tests.waiting import wait_until

from .conftest import Emulator, start_emulator, unique_room

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

MODULE = "tests.servers.lambda_ws.tiny_handlers"
HIERARCHY = find_hierarchy()
needs_quotas = pytest.mark.skipif(
    HIERARCHY is None or os.geteuid() != 0 or not quotas_available(),
    reason="needs root and a cgroup hierarchy with the cpu controller",
)


def spin_share(memory_mb: int, cpu: CpuModel, seconds: float = 1.5) -> float:
    """CPU time over wall time of a busy loop in an environment of `memory_mb`."""
    spin = FunctionConfig("SpinFunction", MODULE, "spin", memory_mb=memory_mb, timeout_s=20)

    async def main() -> Invocation:
        service = LambdaService(
            {spin.name: spin}, ServiceLimits(max_workers=1), EnvironmentSetup(cpu=cpu)
        )
        await service.start()
        try:
            return await service.invoke(spin.name, {"seconds": seconds})
        finally:
            await service.close()

    call = asyncio.run(main())
    assert call.ok, call.error
    return float(call.result["cpu_s"]) / float(call.result["wall_s"])


def our_groups() -> list[Path]:
    """This process's groups (an in-process CpuModel's), if any are left."""
    assert HIERARCHY is not None
    group = HIERARCHY.path / GROUP_DIR / str(os.getpid())
    return sorted(group.rglob("*/")) if group.exists() else []


def test_cpu_follows_memory_as_on_aws() -> None:
    assert vcpus_for(1769) == 1.0
    assert vcpus_for(128) == pytest.approx(128 / 1769)
    assert vcpus_for(10_240) == pytest.approx(5.79, abs=0.01)  # linear, capped at 6
    assert quota_us(128) == 1447  # of a 20 ms period, above the kernel's 1 ms minimum
    assert quota_us(1769) == 20_000


@pytest.mark.parametrize("memory_mb", [64, 127, 10_241])
def test_memory_outside_lambdas_range_is_refused(memory_mb: int) -> None:
    with pytest.raises(MemorySizeError, match="128 to 10,240 MB"):
        check_memory_mb(memory_mb)


@needs_quotas
def test_a_busy_loop_at_128_mb_gets_128_of_1769_of_a_core() -> None:
    share = spin_share(128, CpuModel())
    assert share == pytest.approx(128 / 1769, rel=0.2)
    assert our_groups() == []  # removed with the environment


@needs_quotas
def test_a_busy_loop_at_512_mb_never_gets_more_than_512_of_1769_of_a_core() -> None:
    # the upper bound always holds; the share itself only on a machine with a free core
    assert spin_share(512, CpuModel()) < 1.2 * 512 / 1769


def test_without_the_model_a_busy_loop_gets_more_than_its_share() -> None:
    cpu = CpuModel(enabled=False)
    assert cpu.state().reason == "turned off (--no-cpu-model)"
    assert spin_share(128, cpu) > 1.2 * 128 / 1769  # any free CPU, even on a busy machine


@needs_quotas
def test_an_environment_stopped_at_its_timeout_leaves_no_group(tmp_path: Path) -> None:
    hold = FunctionConfig("HoldFunction", MODULE, "hold", memory_mb=128, timeout_s=0.5)

    async def main() -> tuple[Invocation, list[Path]]:
        cpu = CpuModel()
        service = LambdaService(
            {hold.name: hold}, ServiceLimits(max_workers=1), EnvironmentSetup(cpu=cpu)
        )
        await service.start()
        try:
            call = await service.invoke(hold.name, {"sleep_s": 5})
            return call, our_groups()
        finally:
            await service.close()

    call, groups_after_timeout = asyncio.run(main())
    assert call.status == "timeout"
    assert not [g for g in groups_after_timeout if g.name.startswith("HoldFunction")]
    assert our_groups() == []


def test_a_root_without_the_cpu_controller_leaves_durations_unmodelled(tmp_path: Path) -> None:
    cpu = CpuModel(root=tmp_path)  # a plain directory: no cgroup, no quota can be set
    state = cpu.state()
    assert (state.enabled, state.modelled, state.mechanism) == (True, False, None)
    assert state.reason is not None
    assert "no cpu controller" in state.reason
    assert spin_share(128, cpu, seconds=0.3) > 0  # invocations still run, unmodelled


@needs_quotas
def test_without_permission_the_model_says_why_and_the_emulator_still_serves(
    tmp_path: Path,
) -> None:
    # Not root: the real hierarchy refuses our mkdir, as a container or a user session would.
    script = "import json; from servers.lambda_ws.cpu_model import CpuModel; "
    script += "print(json.dumps(CpuModel().state().to_json()))"
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    answer = subprocess.run(
        [*nobody, sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[3],
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    state: dict[str, Any] = json.loads(answer.stdout)
    assert (state["enabled"], state["modelled"]) == (True, False)
    assert "cannot set CPU quotas" in state["reason"]
    assert "root" in state["reason"]


def emulator_with_a_group(directory: Path) -> tuple[Emulator, Path]:
    """A started emulator whose $connect has run in a CPU group; that emulator's group."""
    assert HIERARCHY is not None
    emulator = start_emulator(directory)
    group = HIERARCHY.path / GROUP_DIR / str(emulator.process.pid)
    try:
        with connect(emulator.url(unique_room("cpu")), open_timeout=30):
            wait_until(lambda: list(group.glob("ConnectFunction-*")), timeout_s=30)
    except BaseException:
        emulator.process.stop()
        raise
    return emulator, group


@needs_quotas
def test_the_emulator_reports_the_model_and_removes_its_groups_on_stop(tmp_path: Path) -> None:
    emulator, group = emulator_with_a_group(tmp_path)
    try:
        model = emulator.stats()["lambda"]["cpu_model"]
        assert (model["modelled"], model["period_us"]) == (True, 20_000)
        quota = next(group.glob("ConnectFunction-*")) / "cpu.cfs_quota_us"
        if quota.exists():  # v1; on v2 the quota is in cpu.max
            assert int(quota.read_text()) == quota_us(256)
    finally:
        emulator.process.stop()
    assert not group.exists()


@needs_quotas
def test_groups_of_a_killed_emulator_are_swept(tmp_path: Path) -> None:
    emulator, group = emulator_with_a_group(tmp_path)
    emulator.process.kill()  # kill -9 of the whole group: no cleanup ran
    assert group.exists()
    assert group in wait_until(lambda: sweep_stale(HIERARCHY), timeout_s=10)
    assert not group.exists()


def test_the_emulator_refuses_a_memory_size_lambda_does_not_allow() -> None:
    answer = subprocess.run(
        [sys.executable, "-m", "servers.lambda_ws.emulator", "x", "--port=1", "--memory-mb=64"],
        capture_output=True,
        text=True,
    )
    assert answer.returncode == 2
    assert "--memory-mb: 64 MB is outside Lambda's memory range" in answer.stderr


def test_the_root_can_be_chosen_by_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ROOT_ENV, str(tmp_path))
    state = CpuModel().state()
    assert not state.modelled
    assert str(tmp_path) in (state.reason or "")
