"""The scenario model: what load a run applies, validated from a TOML file."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from contract.overload import OverloadPlan
from contract.soak import SoakRule

# Envelope room left under the 128 KiB message limit (messages.MAX_MESSAGE_BYTES) for the
# JSON keys, sender, room and numbers around the padded body.
MAX_PAYLOAD_BYTES = 120_000
# Spawned is not joined (a Lambda $connect is a cold start): a run waits this long beyond
# users / spawn_rate for every user to join before it starts publishing anyway.
JOIN_TIMEOUT_S = 60.0


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file and the field."""


class Sweep(BaseModel):
    """Step load: add rooms until a step misses the SLO (websocket-shootout's method).

    Rooms grow by `step_rooms` a step, or by the factor `growth` (a capacity ramp reaches a
    knee in few steps). A step misses when its delivery p95 or p99 passes the SLO set, or, with
    `complete`, when it delivered less than its schedule offered or requests failed.
    `cpu_quota_vcpu` holds the server to that many cores meanwhile (a Fargate task's size).
    """

    # every step is measured for the scenario's `duration_s`, after `settle_s` for its joins

    model_config = ConfigDict(extra="forbid", frozen=True)

    step_rooms: int = Field(default=0, ge=0, description="rooms added at each step")
    growth: float = Field(default=1.0, ge=1.0, le=10.0, description="rooms multiplied a step")
    max_rooms: int = Field(gt=0, description="stop adding rooms here even if the SLO holds")
    slo_p95_ms: float | None = Field(default=None, gt=0, description="p95 that marks the knee")
    slo_p99_ms: float | None = Field(default=None, gt=0, description="p99 that marks the knee")
    complete: bool = Field(default=False, description="a step that loses or fails anything misses")
    cpu_quota_vcpu: float | None = Field(default=None, gt=0, le=64, description="server's cores")

    @model_validator(mode="after")
    def _check_ramp(self) -> Sweep:
        if self.step_rooms == 0 and self.growth == 1.0:
            raise ValueError("a sweep needs step_rooms > 0 or growth > 1 to add load")
        if self.slo_p95_ms is None and self.slo_p99_ms is None:
            raise ValueError("a sweep needs slo_p95_ms or slo_p99_ms")
        return self

    def next_rooms(self, rooms: int) -> int:
        """The rooms of the step after one of `rooms`: at least one more, at most max_rooms."""
        grown = max(rooms + self.step_rooms, math.ceil(rooms * self.growth), rooms + 1)
        return min(grown, self.max_rooms)

    def steps_from(self, rooms: int) -> int:
        """How many steps the ramp takes from `rooms` to max_rooms if no step misses."""
        steps = 1
        while rooms < self.max_rooms:
            rooms = self.next_rooms(rooms)
            steps += 1
        return steps


FaultKind = Literal["restart", "drop", "slow"]
FAULT_KINDS: tuple[FaultKind, ...] = ("restart", "drop", "slow")
# A fault's slot must leave this long after the injection (after the pause, for `slow`) for
# every client to come back before the next fault: a restart is ~1 s of boot plus a 0.5 s
# reconnect pause.
FAULT_RECOVERY_S = 3.0


class Faults(BaseModel):
    """Faults injected during the measured window, one after another, each in its own slot.

    The measured window is cut into one equal slot per kind; each fault is injected `lead_s`
    into its slot, and what the clients lost, got twice or got late is attributed to the slot
    its message was sent in.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kinds: tuple[FaultKind, ...] = Field(
        min_length=1,
        description="restart: kill -9 and start again; drop: the server closes "
        "every client connection; slow: some clients stop reading for a while",
    )
    lead_s: float = Field(default=1.0, ge=0, description="into its slot before a fault hits")
    late_after_s: float = Field(
        default=2.0, gt=0, description="a delivery slower than this counts as late"
    )
    slow_fraction: float = Field(default=0.2, gt=0, le=1, description="share of slow readers")
    slow_for_s: float = Field(default=5.0, gt=0, description="how long slow readers stop")

    @model_validator(mode="after")
    def _distinct(self) -> Faults:
        if len(set(self.kinds)) != len(self.kinds):
            raise ValueError("each fault kind once: " + ", ".join(self.kinds))
        return self

    def needed_s(self, kind: FaultKind) -> float:
        """The shortest slot that fits this kind and the recovery after it."""
        pause_s = self.slow_for_s if kind == "slow" else 0.0
        return self.lead_s + pause_s + FAULT_RECOVERY_S

    def schedule(self, measure_start: float, duration_s: float) -> tuple[FaultSlot, ...]:
        """The slots over a measured window starting at `measure_start` (epoch s)."""
        slot_s = duration_s / len(self.kinds)
        slots = []
        for index, kind in enumerate(self.kinds):
            start = measure_start + index * slot_s
            at = start + self.lead_s
            slots.append(
                FaultSlot(
                    kind=kind,
                    start=start,
                    at=at,
                    end=start + slot_s,
                    slow_until=at + self.slow_for_s if kind == "slow" else None,
                    slow_fraction=self.slow_fraction if kind == "slow" else 0.0,
                )
            )
        return tuple(slots)


def parse_fault_kinds(text: str) -> list[FaultKind]:
    """`restart,drop,slow` (any order, each once) as fault kinds; unknown ones refused."""
    kinds: list[FaultKind] = []
    for word in (part.strip() for part in text.split(",")):
        kind = next((known for known in FAULT_KINDS if known == word), None)
        if kind is None:
            raise ScenarioError(
                f"--faults: unknown fault {word!r}; known: {', '.join(FAULT_KINDS)}"
            )
        if kind not in kinds:
            kinds.append(kind)
    return kinds


@dataclass(frozen=True, slots=True)
class FaultSlot:
    """One fault of a run: injected `at`; messages sent in [start, end) are attributed to it."""

    kind: FaultKind
    start: float
    at: float
    end: float
    slow_until: float | None = None  # slow: readers pause from `at` until then
    slow_fraction: float = 0.0


class Scenario(BaseModel):
    """Rooms, who publishes how often, and how long each phase of a run lasts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    description: str = ""
    rooms: int = Field(gt=0, description="rooms at start (the first step of a sweep)")
    users_per_room: int = Field(gt=0)
    publisher_fraction: float = Field(ge=0, le=1, description="share of users that publish")
    publish_rate_per_s: float = Field(ge=0, description="messages per second per publisher")
    payload_bytes: int = Field(ge=0, le=MAX_PAYLOAD_BYTES, description="message body size")
    poll_interval_s: float = Field(default=1.0, gt=0, description="short polling: sleep after")
    long_poll_wait_s: float = Field(default=20.0, gt=0, le=30, description="long polling: wait=")
    spawn_rate: float = Field(gt=0, description="users started per second")
    settle_s: float = Field(default=1.0, ge=0, description="after spawning, before publishing")
    warmup_s: float = Field(ge=0, description="publishing, not measured")
    duration_s: float = Field(gt=0, description="measured publishing")
    drain_s: float = Field(default=2.0, ge=0, description="receiving after the last publish")
    sweep: Sweep | None = None
    faults: Faults | None = None
    soak: SoakRule | None = None  # hold RSS flat after the warm-up (contract/soak.py)
    overload: OverloadPlan | None = None  # past the knee and back (contract/overload.py)

    @model_validator(mode="after")
    def _check_phases(self) -> Scenario:
        if self.drain_s <= self.poll_interval_s:
            raise ValueError(
                "drain_s must exceed poll_interval_s, so a short poll runs after the last publish"
            )
        if self.sweep is not None and self.sweep.max_rooms < self.rooms:
            raise ValueError("sweep.max_rooms must be >= rooms")
        if self.faults is not None:
            self._check_faults(self.faults)
        if self.soak is not None:
            self._check_soak(self.soak)
        if self.overload is not None and (
            self.sweep is not None or self.faults is not None or self.soak is not None
        ):
            raise ValueError("an overload sets its own phases: no sweep, faults or soak")
        return self

    def _check_soak(self, soak: SoakRule) -> None:
        if self.sweep is not None or self.faults is not None:
            raise ValueError("a soak holds one steady load: no sweep and no faults")
        if self.duration_s < 2 * soak.sample_window_s:
            raise ValueError(
                f"soak: duration_s {self.duration_s:g} must be at least twice "
                f"sample_window_s {soak.sample_window_s:g} (RSS after warm-up, and at the end)"
            )

    def _check_faults(self, faults: Faults) -> None:
        if self.sweep is not None:
            raise ValueError("faults and sweep do not mix: a fault would blur the knee")
        slot_s = self.duration_s / len(faults.kinds)
        for kind in faults.kinds:
            if slot_s < faults.needed_s(kind):
                recovery = f"lead_s{' + slow_for_s' if kind == 'slow' else ''} + recovery"
                raise ValueError(
                    f"faults: {kind} needs a slot of {faults.needed_s(kind):g} s ({recovery} "
                    f"{FAULT_RECOVERY_S:g} s), but duration_s {self.duration_s:g} over "
                    f"{len(faults.kinds)} fault(s) gives {slot_s:g} s: raise duration_s"
                )
        if faults.late_after_s <= self.poll_interval_s:
            raise ValueError(
                "faults.late_after_s must exceed poll_interval_s: short polling is that late "
                "by design"
            )

    def with_faults(self, kinds: Sequence[FaultKind]) -> Scenario:
        """This scenario with these fault kinds (the `faults` table's settings kept)."""
        base = self.faults.model_dump() if self.faults is not None else {}
        data = self.model_dump()
        data["faults"] = {**base, "kinds": tuple(kinds)}
        return parse_scenario(data, f"scenario {self.name!r} with --faults {','.join(kinds)}")

    @property
    def room_publish_rate_per_s(self) -> float:
        """Messages per second published into each room."""
        return self.publishers_per_room * self.publish_rate_per_s

    @property
    def users(self) -> int:
        """Users at start: rooms × users per room."""
        return self.rooms * self.users_per_room

    @property
    def max_users(self) -> int:
        """Users at the end of the run (the last sweep step, if any)."""
        rooms = self.sweep.max_rooms if self.sweep else self.rooms
        return rooms * self.users_per_room

    @property
    def publishers_per_room(self) -> int:
        """Publishers in each room: the fraction rounded up, so a non-zero fraction means >= 1."""
        return math.ceil(self.users_per_room * self.publisher_fraction - 1e-9)

    @property
    def publish_interval_s(self) -> float:
        """Seconds between two publishes of one publisher (inf when nobody publishes)."""
        return 1.0 / self.publish_rate_per_s if self.publish_rate_per_s > 0 else math.inf

    def expected_run_s(self) -> float:
        """A generous estimate of one target's run length, for timeouts."""
        spawn_s = self.max_users / self.spawn_rate
        if self.sweep is not None:
            steps = self.sweep.steps_from(self.rooms)
            measured_s = steps * (self.settle_s + self.duration_s)
        elif self.overload is not None:
            measured_s = self.overload.total_s
        else:
            measured_s = self.duration_s
        return spawn_s + self.settle_s + self.warmup_s + measured_s + self.drain_s


def _format_error(source: str, exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")  # a validator's own words
        problems.append(f"field {field!r}: {message}" if field else message)
    return f"{source}: " + "; ".join(problems)


def parse_scenario(data: dict[str, Any], source: str = "scenario") -> Scenario:
    """Validate a scenario mapping; errors name the source and the field at fault."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_error(source, exc)) from None


def load_scenario_file(path: Path) -> Scenario:
    """Read and validate one TOML scenario; `name` defaults to the file's stem."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    data.setdefault("name", path.stem)
    return parse_scenario(data, str(path))


def resolve_scenario_path(ref: str, search_dirs: Sequence[Path]) -> Path:
    """A scenario name (looked up as NAME.toml in `search_dirs`) or a path to a TOML file."""
    candidate = Path(ref)
    if candidate.suffix == ".toml" or candidate.exists():
        return candidate
    for directory in search_dirs:
        path = directory / f"{ref}.toml"
        if path.exists():
            return path
    known = sorted({p.stem for d in search_dirs for p in d.glob("*.toml")})
    raise ScenarioError(f"unknown scenario {ref!r}; known: {', '.join(known)} (or a .toml path)")


def load_scenario(ref: str, search_dirs: Sequence[Path]) -> Scenario:
    """Resolve a scenario name or path and load it."""
    return load_scenario_file(resolve_scenario_path(ref, search_dirs))
