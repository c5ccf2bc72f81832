"""scripts/install-system-packages.sh: quiet when nothing is missing, says what to run otherwise."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from .compose_files import ROOT

SCRIPT = ROOT / "scripts" / "install-system-packages.sh"
LIST = ROOT / "scripts" / "system-packages.txt"


def listed_packages() -> list[str]:
    """The package names in the list, comments and blank lines left out."""
    names = (line.split("#", 1)[0].strip() for line in LIST.read_text().splitlines())
    return [name for name in names if name]


def installed(package: str) -> bool:
    """Whether dpkg has `package` installed, or (as the script accepts) a command of its name."""
    status = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True
    )
    return "install ok installed" in status.stdout or shutil.which(package) is not None


pytestmark = pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="not a Debian system")


def test_the_list_names_what_the_project_uses():
    packages = listed_packages()
    for needed in (
        *("libpango-1.0-0", "redis-server", "nginx-light", "chromium", "docker-compose"),
        *("nodejs", "npm"),  # dynalite, the Lambda emulator's DynamoDB
    ):
        assert needed in packages
    assert len(packages) == len(set(packages))


def test_nothing_missing_after_make_install_and_a_rerun_is_silent():
    missing = [package for package in listed_packages() if not installed(package)]
    assert missing == [], "make install should have installed these"
    run = subprocess.run([SCRIPT], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0
    assert run.stdout == run.stderr == ""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the script as another user")
def test_without_root_it_names_the_missing_packages_and_the_command():
    nobody = pwd.getpwnam("nobody")
    # pytest's tmp_path sits under a root-only directory that nobody cannot enter
    with tempfile.TemporaryDirectory() as folder:
        check_unprivileged_run(nobody, Path(folder))


def check_unprivileged_run(nobody: pwd.struct_passwd, tmp_path: Path) -> None:
    """Run a copy of the script as `nobody` with a list naming one absent package."""
    shutil.copy(SCRIPT, tmp_path)
    # a package this machine does not have, beside one it has and a command it has (no package
    # of that name: as npm inside NodeSource's nodejs)
    absent = "transport-bench-no-such-package"
    listed = f"# comment\nredis-server\nenv\n\n{absent}  # why\n"
    (tmp_path / "system-packages.txt").write_text(listed)
    tmp_path.chmod(0o755)
    run = subprocess.run(
        [tmp_path / SCRIPT.name],
        capture_output=True,
        text=True,
        timeout=60,
        user=nobody.pw_uid,
        group=nobody.pw_gid,
        extra_groups=[],
    )
    assert run.returncode == 1
    assert f"needs these Debian packages: {absent}\n" in run.stderr
    assert f"sudo apt-get install -y --no-install-recommends {absent}" in run.stderr
    assert "redis-server" not in run.stderr
