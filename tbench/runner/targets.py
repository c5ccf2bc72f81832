"""The seam between "start the target here" and "use the URL given" (compose, real AWS)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from contract.addresses import DEFAULT_HOST
from contract.lambda_report import REPORT_LOG_FILE
from contract.registry import TARGETS, TargetSpec
from tbench.process import Spawn, TargetProcess


class TargetHandle(Protocol):
    """A target the runner measures: where clients reach it, and which processes to sample."""

    spec: TargetSpec

    @property
    def url(self) -> str:
        """The client base URL."""
        ...

    @property
    def server_pid(self) -> int | None:
        """The server's root process (children included when sampling), if it runs here."""
        ...

    def start(self) -> None:
        """Make the target reachable (start it, or nothing if it already runs)."""
        ...

    def stop(self) -> None:
        """Undo start(): stop what was started, leave alone what was given."""
        ...

    def failure_detail(self) -> str:
        """What might explain a failure (the server log's tail), or ''."""
        ...


@dataclass(frozen=True, kw_only=True)
class Namespaced:
    """A server started in a network namespace of its own (--network): how, and on which port."""

    launcher: tuple[str, ...]  # an argv prefix: `ip netns exec NS`
    port: int  # nothing else listens in the namespace, so a fixed one


class StartedTarget:
    """A target whose server the runner starts as a child process and stops afterwards."""

    def __init__(
        self,
        spec: TargetSpec,
        log_path: Path,
        host: str = DEFAULT_HOST,
        extra_args: tuple[str, ...] = (),
        netns: Namespaced | None = None,
    ) -> None:
        self.spec = spec
        reports: tuple[str, ...] = ()
        if spec.report_log_option:  # Lambda REPORT lines beside the server log, for pricing
            reports = (spec.report_log_option, str(log_path.parent / REPORT_LOG_FILE))
        self.process = TargetProcess(
            spec,
            host=host,
            port=netns.port if netns is not None else None,
            extra_args=(*reports, *extra_args),
            spawn=Spawn(log_path=log_path, launcher=netns.launcher if netns is not None else ()),
        )

    @property
    def url(self) -> str:
        """The client base URL."""
        return self.process.url

    @property
    def server_pid(self) -> int | None:
        """The server's process id once started."""
        return self.process.pid if self.process.proc is not None else None

    def start(self) -> None:
        """Start the server and wait until /healthz answers (raises TargetStartError)."""
        self.process.start()

    def stop(self) -> None:
        """Stop the server's whole process group."""
        self.process.stop()

    def failure_detail(self) -> str:
        """The tail of the server log."""
        return self.process.log_tail(2000)


class GivenTarget:
    """A target already running at a URL (docker compose, a deployed API Gateway stage).

    `server_pid`, when given, is its server's process on this machine (`tbench run --url URL
    --server-pid PID`): sampled, with its children, as a started target's is.
    """

    def __init__(self, spec: TargetSpec, url: str, server_pid: int | None = None) -> None:
        self.spec = spec
        self._url = url
        self._server_pid = server_pid

    @property
    def url(self) -> str:
        """The URL given."""
        return self._url

    @property
    def server_pid(self) -> int | None:
        """The process named with the URL, if any: otherwise not ours to sample."""
        return self._server_pid

    def start(self) -> None:
        """Nothing to start."""

    def stop(self) -> None:
        """Nothing to stop."""

    def failure_detail(self) -> str:
        """Nothing known."""
        return ""


def parse_target_urls(pairs: Iterable[str]) -> dict[str, str]:
    """`NAME=URL` pairs (`--target-url`, compose mode) as {target name: URL}; bad ones refused."""
    urls: dict[str, str] = {}
    for pair in pairs:
        name, separator, url = pair.partition("=")
        name, url = name.strip(), url.strip()
        if not separator or not url:
            raise ValueError(f"--target-url {pair!r}: expected NAME=URL, e.g. sse=http://sse:8000")
        if name not in TARGETS:
            raise ValueError(f"--target-url {pair!r}: unknown target; known: {', '.join(TARGETS)}")
        if name in urls and urls[name] != url:
            raise ValueError(f"--target-url names {name} twice: {urls[name]} and {url}")
        urls[name] = url
    return urls
