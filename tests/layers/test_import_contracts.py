"""The floors of the house hold: `lint-imports` (in `make lint`) passes here and fails on an
import that runs up a floor or closes a loop."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = (
    "contract", "servers", "conformance", "loadtests", "cost_model", "analysis", "reports",
    "tbench", "devtools", "benchmarks",
)  # fmt: skip


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter with `tree` as the working directory (its packages come first)."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """The project's packages and pyproject.toml, copied so that one file can be broken."""
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("node_modules")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_project_keeps_its_import_contracts() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


def test_an_import_up_a_floor_breaks_the_layers(tree_copy: Path) -> None:
    codec = tree_copy / "contract" / "codec.py"
    codec.write_text(codec.read_text() + "\nfrom tbench import cli  # noqa: E402\n")
    result = lint_imports(tree_copy)
    assert result.returncode != 0
    assert "contract.codec -> tbench.cli" in result.stdout, result.stdout


def test_an_import_between_siblings_on_one_floor_breaks_the_layers(tree_copy: Path) -> None:
    launch = tree_copy / "servers" / "launch.py"
    launch.write_text(launch.read_text() + "\nimport loadtests.session  # noqa: E402\n")
    result = lint_imports(tree_copy)
    assert result.returncode != 0
    assert "servers.launch -> loadtests.session" in result.stdout, result.stdout


def test_a_function_local_import_that_closes_a_loop_is_caught(tree_copy: Path) -> None:
    codec = tree_copy / "contract" / "codec.py"
    codec.write_text(
        codec.read_text() + "\n\ndef _loop() -> None:\n    from contract import messages  # noqa\n"
    )
    result = lint_imports(tree_copy)
    assert result.returncode != 0
    assert "No cycles are allowed in contract" in result.stdout, result.stdout
