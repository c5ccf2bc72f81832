"""The Dockerfile's essentials: pinned base, non-root, pinned dependencies, no caches left."""

from __future__ import annotations

import re

from packaging.specifiers import SpecifierSet

from .compose_files import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
# instructions with their continuation lines joined
INSTRUCTIONS = [
    line.strip() for line in re.sub(r"\\\n", " ", DOCKERFILE).splitlines() if line.strip()
]
RUNS = [line for line in INSTRUCTIONS if line.startswith("RUN ")]
PYPROJECT = (ROOT / "pyproject.toml").read_text()


def test_the_base_is_an_argument_defaulting_to_slim_python_pinned_to_a_patch_release():
    (base,) = [line for line in INSTRUCTIONS if line.startswith("FROM ")]
    assert base == "FROM ${BASE_IMAGE}"
    (default,) = [line for line in INSTRUCTIONS if line.startswith("ARG BASE_IMAGE=")]
    match = re.fullmatch(r"ARG BASE_IMAGE=python:(\d+\.\d+\.\d+)-slim-([a-z]+)", default)
    assert match, default
    requires = re.search(r'requires-python = "([^"]+)"', PYPROJECT)
    assert requires is not None
    assert match.group(1) in SpecifierSet(requires.group(1))


def test_it_runs_as_a_user_that_is_not_root():
    users = [line.split()[1] for line in INSTRUCTIONS if line.startswith("USER ")]
    assert users
    assert users[-1] not in ("root", "0")
    assert any("useradd" in run and users[-1] in run for run in RUNS)


def test_pip_installs_the_pinned_set_without_a_cache():
    installs = [run for run in RUNS if "pip install" in run]
    assert installs
    assert all("--no-cache-dir" in run for run in installs)
    assert any(re.search(r"pip install .*-c requirements\.lock \.(\s|$)", run) for run in installs)
    assert "COPY requirements.lock" in DOCKERFILE


def test_apt_installs_pango_and_removes_its_lists():
    (apt,) = [run for run in RUNS if "apt-get install" in run]
    assert "--no-install-recommends" in apt
    assert "rm -rf /var/lib/apt/lists/*" in apt  # in the same layer, or the lists stay
    assert "libpango-1.0-0" in apt
    assert "libpangoft2-1.0-0" in apt


def test_the_build_context_leaves_out_the_venv_results_and_history():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".venv", ".git", "results", "tests"):
        assert entry in ignored


def test_everything_installs_into_a_venv_first_on_path():
    # Debian's python3 (a debootstrap-made base) refuses system-wide pip and has no `python`
    venv = [run for run in RUNS if "python3 -m venv /opt/venv" in run]
    assert venv
    assert RUNS.index(venv[0]) < min(RUNS.index(run) for run in RUNS if "pip install" in run)
    assert any(
        line.startswith("ENV ") and "PATH=/opt/venv/bin:$PATH" in line for line in INSTRUCTIONS
    )
