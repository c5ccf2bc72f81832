"""The scenario's `faults` table and `--faults`: validation and the slot schedule."""

from __future__ import annotations

from typing import Any

import pytest

from contract.scenario import ScenarioError, parse_fault_kinds, parse_scenario
from loadtests import scenario_files


def _scenario(**changes: Any) -> dict[str, Any]:
    data = scenario_files.load("faults").model_dump()
    data.update(changes)
    return data


def test_shipped_faults_scenario_schedules_three_equal_slots():
    scenario = scenario_files.load("faults")
    assert scenario.faults is not None
    slots = scenario.faults.schedule(1000.0, scenario.duration_s)
    assert [slot.kind for slot in slots] == ["drop", "slow", "restart"]
    assert [(slot.start, slot.at, slot.end) for slot in slots] == [
        (1000.0, 1001.0, 1008.0),
        (1008.0, 1009.0, 1016.0),
        (1016.0, 1017.0, 1024.0),
    ]
    slow = slots[1]
    assert slow.slow_until == 1013.0
    assert slow.slow_fraction == 0.2
    assert slots[0].slow_until is None


def test_slot_must_fit_the_fault_and_its_recovery():
    data = _scenario(duration_s=12.0)  # three 4-s slots; slow needs 1 + 4 + 3
    message = r"faults: slow needs a slot of 8 s.*gives 4 s: raise duration_s"
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(data, "faults.toml")


def test_each_kind_once_and_known_kinds_only():
    data = _scenario()
    data["faults"] = {**data["faults"], "kinds": ["drop", "drop"]}
    with pytest.raises(ScenarioError, match="each fault kind once"):
        parse_scenario(data)
    data["faults"] = {**data["faults"], "kinds": ["unplug"]}
    with pytest.raises(ScenarioError, match=r"faults\.kinds"):
        parse_scenario(data)


def test_faults_and_sweep_do_not_mix():
    data = _scenario(sweep={"step_rooms": 1, "max_rooms": 20, "slo_p95_ms": 100})
    with pytest.raises(ScenarioError, match="faults and sweep do not mix"):
        parse_scenario(data)


def test_late_threshold_must_exceed_the_poll_interval():
    data = _scenario(poll_interval_s=2.5)
    with pytest.raises(ScenarioError, match="late_after_s must exceed poll_interval_s"):
        parse_scenario(data)


def test_with_faults_keeps_the_tables_settings_and_checks_the_fit():
    scenario = scenario_files.load("faults").with_faults(["restart"])
    assert scenario.faults is not None
    assert scenario.faults.kinds == ("restart",)
    assert scenario.faults.slow_for_s == 4.0  # the table's, kept
    smoke = scenario_files.load("smoke")  # 2 s measured: too short for any fault
    with pytest.raises(ScenarioError, match=r"--faults drop.*raise duration_s"):
        smoke.with_faults(["drop"])


def test_parse_fault_kinds():
    assert parse_fault_kinds("restart, drop,slow,drop") == ["restart", "drop", "slow"]
    with pytest.raises(ScenarioError, match="unknown fault 'crash'; known: restart, drop, slow"):
        parse_fault_kinds("drop,crash")


def test_room_publish_rate():
    scenario = scenario_files.load("faults")
    assert scenario.publishers_per_room == 2
    assert scenario.room_publish_rate_per_s == 2.0
