"""The Dockerfile's essentials: pinned base, non-root, pinned dependencies, no caches left."""

from __future__ import annotations

import re

from packaging.specifiers import SpecifierSet

from servers.lambda_ws.dynamodb_local import DYNALITE_DIR

from .compose_files import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
# instructions with their continuation lines joined
INSTRUCTIONS = [
    line.strip() for line in re.sub(r"\\\n", " ", DOCKERFILE).splitlines() if line.strip()
]
RUNS = [line for line in INSTRUCTIONS if line.startswith("RUN ")]
PYPROJECT = (ROOT / "pyproject.toml").read_text()
DYNALITE = DYNALITE_DIR.relative_to(ROOT)  # as the Dockerfile names it


def stage(name: str | None) -> list[str]:
    """The instructions of one build stage (`FROM ... AS name`; None: the final one)."""
    starts = [i for i, line in enumerate(INSTRUCTIONS) if line.startswith("FROM ")]
    if name is None:
        return INSTRUCTIONS[starts[-1] :]
    (start,) = [i for i in starts if INSTRUCTIONS[i].endswith(f" AS {name}")]
    return INSTRUCTIONS[start : min([i for i in starts if i > start], default=len(INSTRUCTIONS))]


def test_every_stage_is_on_the_base_argument_defaulting_to_slim_python_pinned_to_a_patch_release():
    bases = [line for line in INSTRUCTIONS if line.startswith("FROM ")]
    assert bases == ["FROM ${BASE_IMAGE} AS dynalite", "FROM ${BASE_IMAGE}"]
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


def test_apt_installs_without_recommends_and_removes_its_lists():
    installs = [run for run in RUNS if "apt-get install" in run]
    assert len(installs) == 2  # the npm stage's, the image's
    for apt in installs:
        assert "--no-install-recommends" in apt
        assert "rm -rf /var/lib/apt/lists/*" in apt  # in the same layer, or the lists stay


def test_the_image_has_pango_and_node_but_not_npm():
    (apt,) = [line for line in stage(None) if "apt-get install" in line]
    for package in ("libpango-1.0-0", "libpangoft2-1.0-0", "nodejs"):
        assert package in apt.split()
    assert "npm" not in apt.split()


def test_dynalite_is_installed_from_its_lockfile_in_the_npm_stage_and_copied_in():
    npm_stage = stage("dynalite")
    (apt,) = [line for line in npm_stage if "apt-get install" in line]
    assert {"nodejs", "npm"} <= set(apt.split())
    copies = [line.split() for line in npm_stage if line.startswith("COPY ")]
    assert any(f"{DYNALITE}/package-lock.json" in copy for copy in copies)
    assert any("npm ci --ignore-scripts" in line for line in npm_stage)  # as `make install`
    copied = f"COPY --from=dynalite /dynalite/node_modules {DYNALITE}/node_modules"
    assert copied in stage(None)
    # the host's node_modules stays out of the context: the image has its own
    assert f"{DYNALITE}/node_modules" in (ROOT / ".dockerignore").read_text().split()


def test_the_build_context_leaves_out_the_venv_results_and_history():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".venv", ".git", "results", "tests", "devtools", "benchmarks"):
        assert entry in ignored
    assert "requirements-dev.lock" in ignored  # the image installs the runtime lock alone


def test_everything_installs_into_a_venv_first_on_path():
    # Debian's python3 (a debootstrap-made base) refuses system-wide pip and has no `python`
    venv = [run for run in RUNS if "python3 -m venv /opt/venv" in run]
    assert venv
    assert RUNS.index(venv[0]) < min(RUNS.index(run) for run in RUNS if "pip install" in run)
    assert any(
        line.startswith("ENV ") and "PATH=/opt/venv/bin:$PATH" in line for line in INSTRUCTIONS
    )
