"""The one settings object every target server reads (from TBENCH_* environment variables)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contract.messages import HISTORY_MAX_AGE_S_DEFAULT, HISTORY_SIZE_DEFAULT, MAX_MESSAGE_BYTES

ENV_PREFIX = "TBENCH_"
DEFAULT_BROKER_URL = "memory://"
# One browser origin: scheme, host, optional port; no path, no wildcard (servers/cross_origin.py).
ORIGIN_PATTERN = re.compile(r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?")


class SettingsError(ValueError):
    """A TBENCH_* variable (or the flag over it) holds a value the servers cannot use."""


class Settings(BaseSettings):
    """Limits and intervals held equal across every target (docs/protocol.md).

    Constructing one reads the TBENCH_* variables (pydantic-settings): a value passed in wins
    over the variable, an unset or empty variable keeps the default.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_ignore_empty=True, frozen=True, extra="ignore"
    )

    # History kept per room for resume, bounded by count and by age (docs/protocol.md). The
    # age is what resume needs: the longest reconnect gap of the faults scenario is a slow
    # reader's, `slow_for_s` (5 s by default) without reading plus FAULT_RECOVERY_S (3 s) to come
    # back (0.5 s pause + up to 1 s jitter, loadtests/users/base.py); the drop fault's is 1.5 s.
    # 60 s is over 7x that 8 s. The count is a ceiling above it: conformance's slow-consumer
    # check behind a proxy resumes ~2,500 back (2,000 lost 110 there), and at ~0.6 KB a kept
    # 256-byte-body message 10,000 are ~6 MB a room at most; the age bound trims far sooner.
    history_size: int = Field(HISTORY_SIZE_DEFAULT, ge=1)
    history_max_age_s: float = Field(HISTORY_MAX_AGE_S_DEFAULT, gt=0, allow_inf_nan=False)
    queue_size: int = Field(1_024, ge=1)  # per-subscriber send queue of push targets
    long_poll_max_wait_s: float = Field(30.0, gt=0, allow_inf_nan=False)  # cap on a poll's wait
    sse_ping_s: float = Field(15.0, gt=0, allow_inf_nan=False)  # SSE keep-alive interval
    broker_url: str = DEFAULT_BROKER_URL
    cors_origin: str | None = None  # the one browser origin let in; None: no CORS headers at all
    admin: bool = False  # serve POST /_admin/drop (fault injection); off unless asked
    # Subscriber connections (WebSocket sessions, streams, polls in progress) served at once;
    # past it new ones get 503 / close 1013. 10,000 leaves the other half of a 20,000-fd
    # limit for publishers' connections, keep-alive and the process itself.
    max_connections: int = Field(10_000, ge=1)
    # How long a client may take to send a whole request (head and body): slowloris guard.
    request_timeout_s: float = Field(10.0, gt=0, allow_inf_nan=False)
    # Fixed by the contract (contract.messages): a class constant, so never read from the env.
    max_message_bytes: ClassVar[int] = MAX_MESSAGE_BYTES

    @field_validator("broker_url")
    @classmethod
    def _broker_url_has_a_scheme(cls, value: str) -> str:
        if "://" not in value:
            raise ValueError("must look like scheme://...")
        return value

    @field_validator("cors_origin")
    @classmethod
    def _cors_origin_is_one_origin(cls, value: str | None) -> str | None:
        if value is not None and ORIGIN_PATTERN.fullmatch(value) is None:
            raise ValueError("must be one origin like http://127.0.0.1:8080 (no path, no wildcard)")
        return value

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """TBENCH_* settings with `overrides` on top; raises SettingsError naming the bad one."""
        try:
            return cls(**overrides)
        except ValidationError as exc:
            raise SettingsError("; ".join(_problem(error) for error in exc.errors())) from None

    def to_env(self) -> dict[str, str]:
        """The TBENCH_* variables that make `from_env` return these settings."""
        return {ENV_PREFIX + name.upper(): _env_text(value) for name, value in self}


def _env_text(value: object) -> str:
    if value is None:
        return ""  # an empty variable is an unset one
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _problem(error: Mapping[str, Any]) -> str:
    """`name must be ..., got value (TBENCH_NAME)`: one line for one invalid field."""
    name = str(error["loc"][0]) if error["loc"] else "settings"
    context = error.get("ctx", {})
    match error["type"]:
        case "greater_than_equal":
            rule = f"must be >= {context['ge']}"
        case "greater_than":
            rule = f"must be > {context['gt']}"
        case "finite_number":
            rule = "must be a finite number"
        case "value_error":
            rule = str(context["error"])
        case _:  # a value of the wrong type: pydantic's words ("should be a valid integer")
            rule = error["msg"].removeprefix("Input ")
    return f"{name} {rule}, got {error['input']!r} ({ENV_PREFIX}{name.upper()})"
