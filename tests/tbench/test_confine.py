"""A server held to a CPU quota by the kernel: a busy loop gets about its share, no more."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
import pytest

from tbench.confine import CpuQuota, quota_problem

needs_quotas = pytest.mark.skipif(
    os.geteuid() != 0 or quota_problem() is not None,
    reason=f"needs root and a cgroup cpu controller: {quota_problem()}",
)

SPIN = "import time\nend = time.time() + 60\nwhile time.time() < end: pass\n"


def cpu_share(pid: int, seconds: float) -> float:
    proc = psutil.Process(pid)
    before = sum(proc.cpu_times()[:2])
    time.sleep(seconds)  # tested: the CPU the process gets over this window
    return (sum(proc.cpu_times()[:2]) - before) / seconds


@needs_quotas
def test_a_busy_process_gets_its_quota():
    spinner = subprocess.Popen([sys.executable, "-c", SPIN])
    try:
        with CpuQuota(0.25, "spin-test") as quota:
            assert quota.add(spinner.pid) == [spinner.pid]
            share = cpu_share(spinner.pid, 2.0)
            assert 0.15 < share < 0.35, share  # 0.25 of a core, give or take a period
            assert quota.path.is_dir()
    finally:
        spinner.kill()
        spinner.wait()


def test_a_quota_below_zero_is_refused():
    with pytest.raises(ValueError, match="above 0 vCPU"):
        CpuQuota(0, "nothing")
