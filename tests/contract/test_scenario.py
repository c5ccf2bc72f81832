from __future__ import annotations

from pathlib import Path

import pytest

from contract.scenario import ScenarioError, load_scenario_file, parse_scenario
from loadtests import scenario_files

VALID = {
    "name": "t",
    "rooms": 2,
    "users_per_room": 5,
    "publisher_fraction": 0.2,
    "publish_rate_per_s": 2.0,
    "payload_bytes": 100,
    "spawn_rate": 10.0,
    "warmup_s": 1.0,
    "duration_s": 5.0,
}


@pytest.mark.parametrize(
    "name", ["smoke", "compose-smoke", "chat", "fanout", "idle", "sweep", "faults", "soak"]
)
def test_shipped_scenarios_load(name):
    scenario = scenario_files.load(name)
    assert scenario.name == name
    assert scenario.users >= 1


def test_soak_passes_the_count_bound_after_the_age_bound_filled_history():
    soak = scenario_files.load("soak")
    assert soak.soak is not None
    publishing_s = soak.warmup_s + soak.duration_s
    assert soak.room_publish_rate_per_s * publishing_s > 10_000  # HISTORY_SIZE_DEFAULT
    assert soak.warmup_s >= 2 * 60  # twice HISTORY_MAX_AGE_S_DEFAULT: history full by then


def test_a_soak_needs_room_for_both_of_its_readings():
    with pytest.raises(ScenarioError, match="at least twice sample_window_s"):
        parse_scenario(VALID | {"soak": {"sample_window_s": 3.0}}, "x.toml")
    with pytest.raises(ScenarioError, match="no sweep and no faults"):
        parse_scenario(VALID | {"soak": {}, "faults": {"kinds": ["drop"]}}, "x.toml")


def test_fanout_has_one_publisher_and_many_listeners():
    fanout = scenario_files.load("fanout")
    assert fanout.rooms == 1
    assert fanout.publishers_per_room == 1
    assert fanout.users_per_room >= 100


def test_sweep_steps_up_to_max_users():
    sweep = scenario_files.load("sweep")
    assert sweep.sweep is not None
    assert sweep.max_users == sweep.sweep.max_rooms * sweep.users_per_room > sweep.users


def test_publishers_per_room_rounds_up_a_nonzero_fraction():
    assert parse_scenario({**VALID, "publisher_fraction": 0.01}).publishers_per_room == 1
    assert parse_scenario({**VALID, "publisher_fraction": 0.0}).publishers_per_room == 0
    assert parse_scenario({**VALID, "publisher_fraction": 1.0}).publishers_per_room == 5


def test_error_names_the_field_and_the_file(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        "rooms = 0\nusers_per_room = 2\npublisher_fraction = 0.5\npublish_rate_per_s = 1\n"
        "payload_bytes = 10\nspawn_rate = 5\nwarmup_s = 0\nduration_s = 1\n"
    )
    with pytest.raises(ScenarioError, match=r"bad\.toml: field 'rooms': .*greater than 0"):
        load_scenario_file(bad)


def test_unknown_field_is_refused_by_name():
    with pytest.raises(ScenarioError, match="field 'publish_rate': Extra inputs"):
        parse_scenario({**VALID, "publish_rate": 3})


def test_missing_field_is_named():
    data = dict(VALID)
    del data["duration_s"]
    with pytest.raises(ScenarioError, match="field 'duration_s': Field required"):
        parse_scenario(data)


def test_nested_sweep_field_is_named():
    with pytest.raises(ScenarioError, match=r"field 'sweep\.slo_p95_ms'"):
        parse_scenario({**VALID, "sweep": {"step_rooms": 1, "max_rooms": 4, "slo_p95_ms": -1}})


def test_drain_must_outlast_a_poll_interval():
    with pytest.raises(ScenarioError, match="drain_s must exceed poll_interval_s"):
        parse_scenario({**VALID, "poll_interval_s": 5.0, "drain_s": 2.0})


def test_bad_toml_and_unknown_name_are_clear(tmp_path: Path):
    broken = tmp_path / "broken.toml"
    broken.write_text("rooms = = 1")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario_file(broken)
    with pytest.raises(ScenarioError, match="unknown scenario 'nope'; known: capacity, chat"):
        scenario_files.load("nope")


def test_a_capacity_ramp_grows_rooms_by_a_factor_up_to_the_maximum():
    scenario = scenario_files.load("capacity")
    sweep = scenario.sweep
    assert sweep is not None
    assert sweep.slo_p99_ms == 100
    assert sweep.complete
    assert sweep.cpu_quota_vcpu == 0.25
    rooms = [scenario.rooms]
    while rooms[-1] < sweep.max_rooms:
        rooms.append(sweep.next_rooms(rooms[-1]))
    assert rooms == [4, 6, 9, 14, 21, 32, 48, 72, 108, 162, 240]
    assert sweep.steps_from(scenario.rooms) == len(rooms)


def test_a_sweep_without_growth_or_slo_is_refused():
    base = {"max_rooms": 4, "slo_p95_ms": 100}
    with pytest.raises(ScenarioError, match="step_rooms > 0 or growth > 1"):
        parse_scenario({**VALID, "sweep": base})
    with pytest.raises(ScenarioError, match="slo_p95_ms or slo_p99_ms"):
        parse_scenario({**VALID, "sweep": {"max_rooms": 4, "growth": 2}})
