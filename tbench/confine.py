"""Confine a target's server to a CPU quota, as a Fargate task of that many vCPUs would be.

The group lives under `<hierarchy>/tbench-confine/<runner pid>/<name>/` and goes when the
confinement is closed; the groups of a runner that died first are swept by the next one.
"""

from __future__ import annotations

import contextlib
import os
from types import TracebackType
from typing import Self

import psutil

from servers.cgroups import Hierarchy, alive, configured_hierarchy, remove_group, write_quota

GROUP_DIR = "tbench-confine"
PERIOD_US = 100_000  # the kernel's default period: a server is not a 20 ms Lambda slice


class ConfinementError(RuntimeError):
    """The quota could not be set (no cpu controller, no permission); says why."""


def sweep_stale(hierarchy: Hierarchy) -> None:
    """Remove the groups of runners that are no longer running."""
    parent = hierarchy.path / GROUP_DIR
    if not parent.is_dir():
        return
    for group in parent.iterdir():
        if group.is_dir() and group.name.isdigit() and not alive(int(group.name)):
            with contextlib.suppress(OSError):
                remove_group(group)


class CpuQuota:
    """A process tree held to `vcpu` cores by the kernel for as long as this is open."""

    def __init__(self, vcpu: float, name: str, hierarchy: Hierarchy | None = None) -> None:
        if vcpu <= 0:
            raise ValueError(f"a CPU quota must be above 0 vCPU, not {vcpu}")
        found = hierarchy or configured_hierarchy()
        if found is None:
            raise ConfinementError("no mounted cgroup hierarchy offers the cpu controller")
        self.hierarchy = found
        self.vcpu = vcpu
        self.quota_us = round(vcpu * PERIOD_US)
        self.path = found.path / GROUP_DIR / str(os.getpid()) / name

    def __enter__(self) -> Self:
        try:
            sweep_stale(self.hierarchy)
            self.path.mkdir(parents=True, exist_ok=True)
            write_quota(self.path, self.quota_us, PERIOD_US)
        except OSError as exc:
            self.close()
            raise ConfinementError(
                f"cannot set a CPU quota under {self.hierarchy.path} ({exc.strerror or exc}): "
                "run as root on a host (or a privileged container)"
            ) from exc
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def add(self, pid: int) -> list[int]:
        """Move `pid` and its children into the group; returns the pids moved."""
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        moved: list[int] = []
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                (self.path / "cgroup.procs").write_text(str(proc.pid))
                moved.append(proc.pid)
        return moved

    def usage_s(self) -> float | None:
        """CPU-seconds the group has used (cgroup v1 cpuacct or v2 cpu.stat), if readable."""
        stat = self.path / "cpu.stat"
        with contextlib.suppress(OSError, ValueError):
            for line in stat.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) / 1e6
        return None

    def close(self) -> None:
        """Remove the group (its processes must have exited or moved)."""
        with contextlib.suppress(OSError):
            remove_group(self.path)
        with contextlib.suppress(OSError):  # busy while another target's group is there
            self.path.parent.rmdir()


def quota_problem() -> str | None:
    """Why a CPU quota cannot be set here, or None when it can."""
    try:
        with CpuQuota(0.5, "probe"):
            return None
    except ConfinementError as exc:
        return str(exc)
