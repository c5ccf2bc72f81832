"""CPU quotas enforced by the kernel: cgroup hierarchies (v1 and v2), groups, quotas.

The Lambda emulator gives each execution environment its share of a vCPU this way, and the
capacity run confines a container target's server to a Fargate task's vCPUs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

ROOT_ENV = "TBENCH_CPU_CGROUP_ROOT"  # a cgroup directory to use instead of the detected one
RMDIR_ATTEMPTS = 50  # a group empties a moment after its last process exits

CgroupVersion = Literal[1, 2]


@dataclass(frozen=True)
class Hierarchy:
    """A cgroup hierarchy with the cpu controller: its directory and version."""

    path: Path
    version: CgroupVersion

    @property
    def mechanism(self) -> str:
        """The file the quota is written to, for run.json and the report."""
        name = "cpu.max" if self.version == 2 else "cpu.cfs_quota_us"
        return f"cgroup v{self.version} {name}"


def _v2_has_cpu(path: Path) -> bool:
    with contextlib.suppress(OSError):
        return "cpu" in (path / "cgroup.controllers").read_text().split()
    return False


def hierarchy_at(path: Path) -> Hierarchy | None:
    """The hierarchy rooted at `path`, if it is a cgroup directory offering the cpu controller."""
    if (path / "cgroup.controllers").exists():
        return Hierarchy(path, 2) if _v2_has_cpu(path) else None
    if (path / "cpu.cfs_quota_us").exists():
        return Hierarchy(path, 1)
    return None


def find_hierarchy(mounts: Path = Path("/proc/self/mounts")) -> Hierarchy | None:
    """The mounted hierarchy with the cpu controller (v2 when it has it, else v1)."""
    v1: Hierarchy | None = None
    with contextlib.suppress(OSError):
        for line in mounts.read_text().splitlines():
            fields = line.split()
            if len(fields) < 4:
                continue
            mount_point, kind, options = Path(fields[1]), fields[2], fields[3].split(",")
            if kind == "cgroup2" and _v2_has_cpu(mount_point):
                return Hierarchy(mount_point, 2)
            if kind == "cgroup" and "cpu" in options and v1 is None:
                v1 = Hierarchy(mount_point, 1)
    return v1


def configured_hierarchy() -> Hierarchy | None:
    """`$TBENCH_CPU_CGROUP_ROOT`'s hierarchy when set, else the mounted one."""
    root = os.environ.get(ROOT_ENV)
    return hierarchy_at(Path(root)) if root else find_hierarchy()


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (which has exited, only its parent is late)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def remove_group(path: Path) -> None:
    """rmdir a cgroup (its children first), retrying while its last processes exit."""
    if not path.is_dir():
        return
    for child in [p for p in path.iterdir() if p.is_dir()]:
        remove_group(child)
    for _ in range(RMDIR_ATTEMPTS):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise
            time.sleep(0.02)
    path.rmdir()


def enable_cpu(path: Path) -> None:
    """cgroup v2: let the children of `path` use the cpu controller."""
    control = path / "cgroup.subtree_control"
    if "cpu" not in control.read_text().split():
        control.write_text("+cpu")


def write_quota(path: Path, quota_us: int, period_us: int) -> None:
    """Allow the group at `path` `quota_us` of CPU time every `period_us`."""
    if (path / "cpu.max").exists():
        (path / "cpu.max").write_text(f"{quota_us} {period_us}")
    else:
        # v1: the period first, so the quota is never checked against the 100 ms default
        (path / "cpu.cfs_period_us").write_text(str(period_us))
        (path / "cpu.cfs_quota_us").write_text(str(quota_us))
