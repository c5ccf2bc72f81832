"""The one settings object every target server reads (from TBENCH_* environment variables)."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from contract.messages import MAX_MESSAGE_BYTES

ENV_PREFIX = "TBENCH_"
DEFAULT_BROKER_URL = "memory://"
# One browser origin: scheme, host, optional port; no path, no wildcard (servers/cross_origin.py).
ORIGIN_PATTERN = re.compile(r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?")
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})


class SettingsError(ValueError):
    """A TBENCH_* variable holds a value the servers cannot use."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Limits and intervals held equal across every target (docs/protocol.md)."""

    # History kept per room for resume, bounded by count and by age (docs/protocol.md). The
    # age is what resume needs: the longest reconnect gap of the faults scenario is a slow
    # reader's, `slow_for_s` (5 s by default) without reading plus FAULT_RECOVERY_S (3 s) to come
    # back (0.5 s pause + up to 1 s jitter, loadtests/users/base.py); the drop fault's is 1.5 s.
    # 60 s is over 7x that 8 s. The count fits it: 60 s at 33 messages/s per room, twice the
    # busiest bundled scenario's room (smoke: 15/s). A kept 256-byte-body message costs ~0.6 KB.
    history_size: int = 2_000
    history_max_age_s: float = 60.0
    queue_size: int = 1_024  # per-subscriber send queue of push targets
    long_poll_max_wait_s: float = 30.0  # cap on a long poll's `wait`
    sse_ping_s: float = 15.0  # keep-alive comment interval on SSE streams
    broker_url: str = DEFAULT_BROKER_URL
    cors_origin: str | None = None  # the one browser origin let in; None: no CORS headers at all
    admin: bool = False  # serve POST /_admin/drop (fault injection); off unless asked
    # Subscriber connections (WebSocket sessions, streams, polls in progress) served at once;
    # past it new ones get 503 / close 1013. 10,000 leaves the other half of a 20,000-fd
    # limit for publishers' connections, keep-alive and the process itself.
    max_connections: int = 10_000
    # How long a client may take to send a whole request (head and body): slowloris guard.
    request_timeout_s: float = 10.0
    # Fixed by the contract (contract.messages), so deliberately not read from the environment.
    max_message_bytes: int = MAX_MESSAGE_BYTES

    def __post_init__(self) -> None:
        if self.history_size < 1:
            raise SettingsError(f"history_size must be >= 1, got {self.history_size}")
        if not math.isfinite(self.history_max_age_s) or self.history_max_age_s <= 0:
            raise SettingsError(
                f"history_max_age_s must be a finite number > 0, got {self.history_max_age_s}"
            )
        if self.queue_size < 1:
            raise SettingsError(f"queue_size must be >= 1, got {self.queue_size}")
        if self.max_connections < 1:
            raise SettingsError(f"max_connections must be >= 1, got {self.max_connections}")
        for name in ("long_poll_max_wait_s", "sse_ping_s", "request_timeout_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise SettingsError(f"{name} must be a finite number > 0, got {value}")
        if "://" not in self.broker_url:
            raise SettingsError(f"broker_url must look like scheme://..., got {self.broker_url!r}")
        if self.cors_origin is not None and ORIGIN_PATTERN.fullmatch(self.cors_origin) is None:
            raise SettingsError(
                "cors_origin must be one origin like http://127.0.0.1:8080 "
                f"(no path, no wildcard), got {self.cors_origin!r}"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the TBENCH_* variables; unset ones keep their defaults."""
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            history_size=int(_env_number(env, "HISTORY_SIZE", defaults.history_size, int)),
            history_max_age_s=_env_number(
                env, "HISTORY_MAX_AGE_S", defaults.history_max_age_s, float
            ),
            queue_size=int(_env_number(env, "QUEUE_SIZE", defaults.queue_size, int)),
            long_poll_max_wait_s=_env_number(
                env, "LONG_POLL_MAX_WAIT_S", defaults.long_poll_max_wait_s, float
            ),
            sse_ping_s=_env_number(env, "SSE_PING_S", defaults.sse_ping_s, float),
            broker_url=env.get(ENV_PREFIX + "BROKER_URL") or defaults.broker_url,
            cors_origin=env.get(ENV_PREFIX + "CORS_ORIGIN") or None,
            admin=_env_flag(env, "ADMIN"),
            max_connections=int(_env_number(env, "MAX_CONNECTIONS", defaults.max_connections, int)),
            request_timeout_s=_env_number(
                env, "REQUEST_TIMEOUT_S", defaults.request_timeout_s, float
            ),
        )

    def to_env(self) -> dict[str, str]:
        """The TBENCH_* variables that make `from_env` return these settings."""
        return {
            ENV_PREFIX + "HISTORY_SIZE": str(self.history_size),
            ENV_PREFIX + "HISTORY_MAX_AGE_S": repr(self.history_max_age_s),
            ENV_PREFIX + "QUEUE_SIZE": str(self.queue_size),
            ENV_PREFIX + "LONG_POLL_MAX_WAIT_S": repr(self.long_poll_max_wait_s),
            ENV_PREFIX + "SSE_PING_S": repr(self.sse_ping_s),
            ENV_PREFIX + "BROKER_URL": self.broker_url,
            ENV_PREFIX + "CORS_ORIGIN": self.cors_origin or "",
            ENV_PREFIX + "ADMIN": "1" if self.admin else "0",
            ENV_PREFIX + "MAX_CONNECTIONS": str(self.max_connections),
            ENV_PREFIX + "REQUEST_TIMEOUT_S": repr(self.request_timeout_s),
        }


def _env_number(
    env: Mapping[str, str], name: str, default: float, kind: type[int] | type[float]
) -> float:
    raw = env.get(ENV_PREFIX + name)
    if raw is None or not raw.strip():
        return default
    try:
        return kind(raw)
    except ValueError:
        raise SettingsError(f"{ENV_PREFIX}{name}={raw!r} is not a valid {kind.__name__}") from None


def _env_flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(ENV_PREFIX + name, "").strip().lower()
    if raw in TRUE_WORDS:
        return True
    if raw in FALSE_WORDS:
        return False
    raise SettingsError(f"{ENV_PREFIX}{name}={raw!r} is not one of 1/0, true/false, yes/no, on/off")
