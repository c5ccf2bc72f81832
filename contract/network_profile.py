"""Network profiles (`tbench run --network`): parsing and validation only, no side effects.

A profile is a round-trip time, a jitter, a loss rate and a link rate, applied between the
load generator's network namespace and the server's (tbench/runner/netns.py applies them).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PROFILE_FILE = Path(__file__).resolve().parent.parent / "loadtests" / "network_profiles.toml"
FIELDS = ("rtt", "jitter", "loss", "rate", "rate_up", "source")
_TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
_RATE_UNITS = {"bit": 1, "kbit": 1_000, "mbit": 1_000_000, "gbit": 1_000_000_000}
_NUMBER_UNIT = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([a-z%]*)\s*$", re.IGNORECASE)
MAX_RTT_MS = 10_000.0
RTT_TOLERANCE = 0.10  # a path's measured RTT must be within 10 % of the profile's


class NetworkProfileError(ValueError):
    """A profile name or field is wrong; the message names it and says what is accepted."""


@dataclass(frozen=True, slots=True)
class NetworkProfile:
    """One emulated link: what the path between load generator and server adds."""

    name: str
    rtt_ms: float = 0.0
    jitter_ms: float = 0.0  # ± around each one-way delay (uniform), packets kept in order
    loss: float = 0.0  # fraction of packets dropped, each direction
    rate_bit_s: int | None = None  # server -> client; None: not limited
    rate_up_bit_s: int | None = None  # client -> server; None: as rate_bit_s
    source: str = ""

    @property
    def one_way_ms(self) -> float:
        """Half the RTT: the delay each direction gets."""
        return self.rtt_ms / 2

    @property
    def uplink_bit_s(self) -> int | None:
        """The client-to-server rate (rate_up, else rate)."""
        return self.rate_up_bit_s if self.rate_up_bit_s is not None else self.rate_bit_s

    def to_json(self) -> dict[str, Any]:
        """The profile as run.json records it."""
        return asdict(self)


def parse_time_ms(field: str, text: str) -> float:
    """`100ms`, `0.5ms`, `2s`, `250us` (a bare number is ms) as milliseconds."""
    value, unit = _number_unit(field, text, "e.g. 100ms, 0.5ms, 1s")
    unit = unit.lower() or "ms"
    if unit not in _TIME_UNITS_MS:
        raise NetworkProfileError(f"{field}={text!r}: unknown unit {unit!r}; use us, ms or s")
    ms = value * _TIME_UNITS_MS[unit]
    if ms > MAX_RTT_MS:
        raise NetworkProfileError(f"{field}={text!r}: above {MAX_RTT_MS:g} ms")
    return ms


def parse_loss(text: str) -> float:
    """`1%` or `0.01` as a fraction in [0, 1)."""
    value, unit = _number_unit("loss", text, "e.g. 1% or 0.01")
    if unit not in ("", "%"):
        raise NetworkProfileError(f"loss={text!r}: use a percentage (1%) or a fraction (0.01)")
    fraction = value / 100 if unit == "%" else value
    if not 0 <= fraction < 1:
        raise NetworkProfileError(f"loss={text!r}: must be at least 0 % and below 100 %")
    return fraction


def parse_rate(field: str, text: str) -> int:
    """`5mbit`, `750kbit`, `1gbit`, `9600bit` as bits per second (tc's units)."""
    value, unit = _number_unit(field, text, "e.g. 5mbit, 750kbit, 1gbit")
    unit = unit.lower()
    if unit not in _RATE_UNITS:
        raise NetworkProfileError(
            f"{field}={text!r}: unknown unit {unit!r}; use {', '.join(_RATE_UNITS)}"
        )
    bits = int(value * _RATE_UNITS[unit])
    if bits < 8_000:
        raise NetworkProfileError(f"{field}={text!r}: below 8kbit, nothing would get through")
    return bits


def _number_unit(field: str, text: str, example: str) -> tuple[float, str]:
    match = _NUMBER_UNIT.match(str(text))
    if match is None:
        raise NetworkProfileError(f"{field}={text!r}: not a number with a unit ({example})")
    return float(match.group(1)), match.group(2)


def profile_from_fields(name: str, fields: dict[str, Any]) -> NetworkProfile:
    """Build a profile from its fields (strings as in the TOML); an unknown field is named."""
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise NetworkProfileError(
            f"network profile {name!r}: unknown field {unknown[0]!r}; fields: {', '.join(FIELDS)}"
        )
    rtt = parse_time_ms("rtt", fields.get("rtt", "0ms"))
    jitter = parse_time_ms("jitter", fields.get("jitter", "0ms"))
    if jitter > rtt / 2:
        raise NetworkProfileError(
            f"network profile {name!r}: jitter={fields['jitter']!r} exceeds half the RTT "
            f"({rtt / 2:g} ms): a one-way delay cannot go below 0"
        )
    rate = fields.get("rate")
    rate_up = fields.get("rate_up")
    return NetworkProfile(
        name=name,
        rtt_ms=rtt,
        jitter_ms=jitter,
        loss=parse_loss(fields.get("loss", "0")),
        rate_bit_s=parse_rate("rate", rate) if rate is not None else None,
        rate_up_bit_s=parse_rate("rate_up", rate_up) if rate_up is not None else None,
        source=str(fields.get("source", "")),
    )


def load_named_profiles(path: Path = PROFILE_FILE) -> dict[str, NetworkProfile]:
    """Every profile of a profile file, validated."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise NetworkProfileError(f"network profiles {path}: {exc}") from None
    return {name: profile_from_fields(name, dict(fields)) for name, fields in data.items()}


def parse_network_option(text: str, path: Path = PROFILE_FILE) -> list[NetworkProfile]:
    """`--network`: names and inline `key=value` profiles, comma-separated.

    Consecutive `key=value` items form one inline profile; a key given again starts the next
    one (`rtt=50ms,rtt=100ms` is a sweep of two).
    """
    named: dict[str, NetworkProfile] | None = None
    profiles: list[NetworkProfile] = []
    inline: dict[str, str] = {}

    def close_inline() -> None:
        if inline:
            label = ",".join(f"{key}={value}" for key, value in inline.items())
            profiles.append(profile_from_fields(label, dict(inline)))
            inline.clear()

    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key, separator, value = item.partition("=")
        if separator:
            key = _inline_field(item, key)
            if key in inline:
                close_inline()
            inline[key] = value.strip()
            continue
        close_inline()
        named = named if named is not None else load_named_profiles(path)
        profiles.append(_named_profile(item, named))
    close_inline()
    _check_profiles(profiles)
    return profiles


def _inline_field(item: str, key: str) -> str:
    """The field an inline `key=value` item sets; NetworkProfileError if there is none."""
    key = key.strip().lower()
    if key not in FIELDS or key == "source":
        raise NetworkProfileError(
            f"--network {item!r}: unknown field {key!r}; inline fields: "
            f"{', '.join(field for field in FIELDS if field != 'source')}"
        )
    return key


def _named_profile(item: str, named: dict[str, NetworkProfile]) -> NetworkProfile:
    """The profile file's profile called `item`; NetworkProfileError if there is none."""
    if item not in named:
        raise NetworkProfileError(
            f"--network {item!r}: unknown profile; named: {', '.join(named)} "
            "(or inline: rtt=100ms,jitter=10ms,loss=1%,rate=5mbit)"
        )
    return named[item]


def _check_profiles(profiles: list[NetworkProfile]) -> None:
    """NetworkProfileError unless there is at least one profile and no name comes twice."""
    if not profiles:
        raise NetworkProfileError("--network: no profile given")
    names = [profile.name for profile in profiles]
    if len(set(names)) != len(names):
        raise NetworkProfileError(f"--network names a profile twice: {', '.join(names)}")
