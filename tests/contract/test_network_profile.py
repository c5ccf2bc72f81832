"""`--network` profiles: named ones load with sources, inline ones parse, bad ones are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract.network_profile import (
    NetworkProfileError,
    load_named_profiles,
    parse_network_option,
)


def test_shipped_profiles_have_every_field_and_a_source():
    profiles = load_named_profiles()
    assert {"lan", "wifi", "4g", "3g", "lossy-4g"} <= set(profiles)
    for profile in profiles.values():
        assert profile.rtt_ms > 0
        assert profile.rate_bit_s
        assert profile.source
    assert profiles["4g"].rtt_ms == 150.0
    assert profiles["4g"].uplink_bit_s == 750_000
    assert profiles["lossy-4g"].loss == pytest.approx(0.02)


def test_inline_profile_with_units():
    (profile,) = parse_network_option("rtt=100ms,jitter=10ms,loss=1%,rate=5mbit")
    assert profile.name == "rtt=100ms,jitter=10ms,loss=1%,rate=5mbit"
    assert (profile.rtt_ms, profile.one_way_ms, profile.jitter_ms) == (100.0, 50.0, 10.0)
    assert profile.loss == pytest.approx(0.01)
    assert profile.rate_bit_s == profile.uplink_bit_s == 5_000_000


def test_a_sweep_of_names_and_inline_profiles_keeps_the_order():
    profiles = parse_network_option("lan, rtt=50ms, rtt=0.2s,loss=0.05, 3g")
    assert [p.name for p in profiles] == ["lan", "rtt=50ms", "rtt=0.2s,loss=0.05", "3g"]
    assert profiles[2].rtt_ms == 200.0
    assert profiles[2].loss == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("option", "named"),
    [
        ("rtt=100", None),  # a bare number is ms: accepted
        ("rtt=100xs", "unknown unit 'xs'"),
        ("delay=100ms", "unknown field 'delay'"),
        ("loss=150%", "loss='150%'"),
        ("rate=5mbps", "unknown unit 'mbps'"),
        ("rtt=10ms,jitter=6ms", "exceeds half the RTT"),
        ("5g", "unknown profile; named: lan"),
        ("lan,lan", "names a profile twice"),
        ("", "no profile given"),
    ],
)
def test_a_wrong_field_is_named(option: str, named: str | None):
    if named is None:
        assert parse_network_option(option)[0].rtt_ms == 100.0
        return
    with pytest.raises(NetworkProfileError, match=named.replace("(", r"\(")):
        parse_network_option(option)


def test_a_wrong_field_in_the_profile_file_names_profile_and_field(tmp_path: Path):
    path = tmp_path / "profiles.toml"
    path.write_text('[edge]\nrtt = "400ms"\nlatency = "1s"\n')
    with pytest.raises(NetworkProfileError, match="profile 'edge': unknown field 'latency'"):
        parse_network_option("edge", path)
