"""requirements.lock: every runtime dependency pinned within pyproject's bounds."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from devtools.lockfile import main, pinned_closure, render, runtime_requirements

from .compose_files import ROOT

LOCK = ROOT / "requirements.lock"


def locked() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            assert name == canonicalize_name(name), line
            assert name not in pins, line
            pins[name] = version
    return pins


def test_every_runtime_dependency_is_pinned_within_its_bounds():
    pins = locked()
    assert list(pins) == sorted(pins)
    for requirement in runtime_requirements():
        version = pins.get(canonicalize_name(requirement.name))
        assert version is not None, f"{requirement.name} is not in requirements.lock: make lock"
        assert requirement.specifier.contains(version, prereleases=True), (requirement, version)


def test_development_tools_are_not_locked():
    pins = locked()
    assert "ruff" not in pins
    assert "mypy" not in pins
    assert "playwright" not in pins


def test_the_closure_follows_requirements_and_their_extras():
    plain = pinned_closure([Requirement("uvicorn")])
    standard = pinned_closure([Requirement("uvicorn[standard]")])
    assert plain["uvicorn"] == metadata.version("uvicorn")
    assert {"h11", "click"} <= set(plain)
    assert "watchfiles" not in plain
    assert "httptools" not in plain
    assert {"watchfiles", "httptools", "websockets"} <= set(standard)


def test_the_file_is_sorted_pins_under_a_header(tmp_path: Path):
    text = render({"zeta": "1.0", "alpha": "2.0"})
    assert text.splitlines()[-2:] == ["alpha==2.0", "zeta==1.0"]
    assert text.startswith("# ")
    assert "make lock" in text
    out = tmp_path / "requirements.lock"
    main(["--output", str(out)])
    assert out.read_text().startswith(text.splitlines()[0])
    assert "fastapi==" in out.read_text()
