"""Run the demo: reserve the page's port, start every target, serve the page, stop them all."""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import FrameType

import uvicorn

from contract.addresses import http_root
from contract.messages import validate_room
from contract.registry import TargetSpec
from servers.demo.app import create_demo_app
from servers.demo.config import DemoConfig, Panel
from servers.settings import ENV_PREFIX
from tbench.process import Spawn, TargetProcess

TARGET_START_TIMEOUT_S = 90.0  # all start at once; the lambda emulator also starts DynamoDB


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind the page's port before anything starts, so a busy port fails at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)  # claimed now; browsers that come early wait until uvicorn serves
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(False)  # the targets must not hold the page's port open
    return sock


def target_env(origin: str, drop_enabled: bool) -> dict[str, str]:
    """The servers.settings variables every target starts with: the page's origin, the fault."""
    return {ENV_PREFIX + "CORS_ORIGIN": origin, ENV_PREFIX + "ADMIN": "1" if drop_enabled else "0"}


def start_targets(
    specs: Sequence[TargetSpec], host: str, env: dict[str, str]
) -> list[TargetProcess]:
    """Start every target at once, each on a free port; all of them or (stopped) none."""
    processes = [TargetProcess(spec, host=host, spawn=Spawn(env=env)) for spec in specs]
    try:
        with ThreadPoolExecutor(max_workers=max(1, len(processes))) as pool:
            starts = [pool.submit(p.start, TARGET_START_TIMEOUT_S) for p in processes]
            for start in starts:
                start.result()  # re-raises the first TargetStartError
    except BaseException:
        stop_targets(processes)
        raise
    return processes


def stop_targets(processes: Sequence[TargetProcess]) -> None:
    """Stop every target's process group (SIGTERM, then SIGKILL what is left)."""
    for process in processes:
        process.stop()


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)  # SIGTERM stops the targets like Ctrl-C does


@dataclass(frozen=True, kw_only=True)
class DemoOptions:
    """What `tbench demo` was asked for: where the page and targets listen, the room, the fault."""

    host: str
    port: int  # the page's; every target gets a free one
    room: str
    drop_enabled: bool  # targets accept the "drop connections" fault, and the page offers it


def run_demo(
    specs: Sequence[TargetSpec],
    options: DemoOptions,
    on_ready: Callable[[str, DemoConfig], None],
) -> None:
    """Serve the demo until Ctrl-C / SIGTERM; every target is stopped however it ends."""
    host, room, drop_enabled = options.host, options.room, options.drop_enabled
    validate_room(room)
    sock = reserve_port(host, options.port)
    origin = http_root(host, sock.getsockname()[1])
    signal.signal(signal.SIGTERM, _exit_cleanly)
    processes: list[TargetProcess] = []
    try:
        processes = start_targets(specs, host, target_env(origin, drop_enabled))
        panels = tuple(Panel.of(p.spec, p.host, p.port) for p in processes)
        config = DemoConfig(room, origin, panels, drop_enabled)
        server = uvicorn.Server(
            uvicorn.Config(
                create_demo_app(config),
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=2,
            )
        )
        on_ready(origin + "/", config)
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the Ctrl-C it handled once it has shut down
    finally:
        stop_targets(processes)
        sock.close()
