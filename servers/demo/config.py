"""What the demo page is told (`/config.json`): the room and one panel per running target."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from contract.addresses import http_root
from contract.registry import TargetSpec

SHORT_POLL_INTERVAL_S = 1.0  # the page's fetch loop sleeps this long after each answer
LONG_POLL_WAIT_S = 25.0  # held polls, under the targets' 30 s cap


@dataclass(frozen=True)
class Panel:
    """One target as the page needs it: which client to use, where, and what it can do."""

    name: str
    family: str  # picks the page's client: fetch loop, long-poll loop, EventSource, WebSocket
    description: str
    url: str  # the client base URL: HTTP root, or the WebSocket endpoint
    http_root: str  # where its HTTP side answers (also for WebSocket targets)
    supports_resume: bool
    assigns_ids: bool

    @classmethod
    def of(cls, spec: TargetSpec, host: str, port: int) -> Panel:
        """The panel of `spec` running on host:port."""
        return cls(
            name=spec.name,
            family=spec.family,
            description=spec.description,
            url=spec.url(host, port),
            http_root=http_root(host, port),
            supports_resume=spec.supports_resume,
            assigns_ids=spec.assigns_ids,
        )

    @property
    def origin(self) -> str:
        """The scheme://host:port the page connects to (for the Content-Security-Policy)."""
        scheme, _, rest = self.url.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}"


@dataclass(frozen=True)
class DemoConfig:
    """The room, the page's own origin, the panels in registry order, and the drop button."""

    room: str
    origin: str  # the page's origin; the targets let in exactly this one
    panels: tuple[Panel, ...]
    drop_enabled: bool  # the targets run with --admin and the page offers "drop connections"
    short_poll_interval_s: float = SHORT_POLL_INTERVAL_S
    long_poll_wait_s: float = LONG_POLL_WAIT_S

    def to_json(self) -> dict[str, Any]:
        """The `/config.json` body."""
        return {
            "room": self.room,
            "drop_enabled": self.drop_enabled,
            "short_poll_interval_s": self.short_poll_interval_s,
            "long_poll_wait_s": self.long_poll_wait_s,
            "panels": [asdict(panel) for panel in self.panels],
        }

    def content_security_policy(self) -> str:
        """Only this page's files, and connections only to itself and the targets."""
        targets = " ".join(sorted({panel.origin for panel in self.panels}))
        return (
            f"default-src 'self'; connect-src 'self' {targets}; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )
