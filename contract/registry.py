"""The target registry: every transport the suite can start, verify and measure.

Adding a target means one entry here plus its server module; nothing else is edited.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Literal

Family = Literal["short-polling", "long-polling", "sse", "websocket"]

ASGI_LAUNCHER = "servers.launch"  # runs an ASGI app on uvicorn with the shared settings


@dataclass(frozen=True)
class TargetSpec:
    """How to start a target, how clients reach it, and what it can do."""

    name: str
    family: Family  # which client family (conformance client, Locust user) drives it
    app: str  # "module:attribute" handed to the launcher
    description: str
    scheme: Literal["http", "ws"] = "http"
    path: str = ""  # appended to host:port to form the client base URL
    launcher: str = ASGI_LAUNCHER
    supports_resume: bool = True  # a cursor (since / Last-Event-ID) survives a reconnect
    assigns_ids: bool = True  # the server numbers messages per room
    # How a WebSocket target refuses a bad frame: "close" with the code and reason of
    # docs/protocol.md, or "error-frame": an `{"error", "kind", "field"}` frame on a connection
    # that stays open (API Gateway cannot choose close codes; it closes only on its own limits).
    ws_bad_input: Literal["close", "error-frame"] = "close"
    extra_args: tuple[str, ...] = field(default_factory=tuple)
    # The launcher option that makes it append Lambda REPORT lines to a file (tbench run keeps
    # them as <target>/lambda-reports.log); None for targets that write none.
    report_log_option: str | None = None
    # The launcher option that turns Lambda's CPU model off (`--no-cpu-model`); None for
    # targets without one. A target that has it gets a short memory tune in `tbench run`.
    no_cpu_model_option: str | None = None

    def argv(self, host: str, port: int, *extra: str) -> list[str]:
        """The command that starts this target's server on host:port."""
        return [
            sys.executable,
            "-m",
            self.launcher,
            self.app,
            "--host",
            host,
            "--port",
            str(port),
            *self.extra_args,
            *extra,
        ]

    def cpu_model_args(self, cpu_model: bool) -> tuple[str, ...]:
        """The launcher options that turn the CPU model off when asked (none otherwise)."""
        if cpu_model or self.no_cpu_model_option is None:
            return ()
        return (self.no_cpu_model_option,)

    def url(self, host: str, port: int) -> str:
        """Base URL clients use (HTTP root, or the WebSocket endpoint)."""
        bracketed = f"[{host}]" if ":" in host else host
        return f"{self.scheme}://{bracketed}:{port}{self.path}"


TARGETS: dict[str, TargetSpec] = {
    spec.name: spec
    for spec in (
        TargetSpec(
            name="short-polling",
            family="short-polling",
            app="servers.short_polling:app",
            description="GET ?since=ID every poll interval, answered at once",
        ),
        TargetSpec(
            name="long-polling",
            family="long-polling",
            app="servers.long_polling:app",
            description="GET ?since=ID&wait=S, held until a newer message or S seconds",
        ),
        TargetSpec(
            name="sse",
            family="sse",
            app="servers.sse:app",
            description="Server-Sent Events stream with id: lines and Last-Event-ID resume",
        ),
        TargetSpec(
            name="websocket",
            family="websocket",
            app="servers.websocket:app",
            description="WebSocket speaking the API Gateway route protocol, since= resume",
            scheme="ws",
            path="/ws",
        ),
        TargetSpec(
            name="lambda",
            family="websocket",
            app="servers.lambda_ws.handlers",
            description="API Gateway WebSocket + Lambda (local emulator; no history, id null)",
            scheme="ws",
            path="/local",  # the API Gateway stage
            launcher="servers.lambda_ws.emulator",
            supports_resume=False,
            assigns_ids=False,
            ws_bad_input="error-frame",
            report_log_option="--report-log",
            no_cpu_model_option="--no-cpu-model",
        ),
    )
}


def get_target(name: str) -> TargetSpec:
    """Look a target up by name, with an error listing the known ones."""
    try:
        return TARGETS[name]
    except KeyError:
        known = ", ".join(TARGETS)
        raise KeyError(f"unknown target {name!r}; known targets: {known}") from None


def resolve_targets(selection: str) -> list[TargetSpec]:
    """Parse `all` or a comma-separated list of target names."""
    if selection.strip() == "all":
        return list(TARGETS.values())
    names = [name.strip() for name in selection.split(",") if name.strip()]
    if not names:
        raise KeyError("no target named; use 'all' or a comma-separated list")
    return [get_target(name) for name in names]
