"""The shipped scenarios (loadtests/scenarios/*.toml), loaded with tbench's scenario model."""

from __future__ import annotations

from pathlib import Path

from contract.scenario import Scenario, load_scenario, resolve_scenario_path

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
DEFAULT_SCENARIO = "chat"


def scenario_names() -> list[str]:
    """Names of the shipped scenarios."""
    return sorted(path.stem for path in SCENARIO_DIR.glob("*.toml"))


def scenario_path(ref: str) -> Path:
    """The TOML file behind a scenario name or path."""
    return resolve_scenario_path(ref, [SCENARIO_DIR])


def load(ref: str = DEFAULT_SCENARIO) -> Scenario:
    """Load a shipped scenario by name, or any scenario file by path."""
    return load_scenario(ref, [SCENARIO_DIR])
