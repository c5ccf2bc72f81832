"""Run a target's ASGI app on uvicorn with the settings every target shares.

`python -m servers.launch MODULE:app --host 127.0.0.1 --port P [--history-size N]
[--history-max-age-s S] [--queue-size N] [--sse-ping-s S] [--long-poll-max-wait-s S] [--broker URL]
[--cors-origin ORIGIN] [--admin] [--max-connections N] [--request-timeout-s S]`
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.importer import import_from_string

from contract.addresses import host_port
from contract.log_level import LogLevelError, log_to_stderr
from contract.messages import MAX_MESSAGE_BYTES
from servers.client_connections import ClientConnections
from servers.settings import Settings, SettingsError

DEFAULT_HOST = "127.0.0.1"
# by name: run with -m, __name__ is "__main__"
logger = logging.getLogger("servers.launch")

# Held equal for every target, so a difference in a report comes from the transport.
UVICORN_SETTINGS: dict[str, Any] = {
    "loop": "uvloop",
    # httptools, plus a bounded request head and a time limit on receiving a request (the stock
    # protocol waits forever for a request that never completes, and buffers any header size).
    "http": "servers.http_protocol:HttpProtocol",
    # The websockets library through uvicorn's sans-I/O binding (the legacy "websockets" one is
    # deprecated and closes 1009 without a reason), plus a reason on the 1007 close.
    "ws": "servers.ws_protocol:WebSocketProtocol",
    "ws_max_size": MAX_MESSAGE_BYTES,  # a larger frame closes with 1009
    # No permessage-deflate: it would compress per connection (per subscriber) on the WebSocket
    # target only; HTTP targets send uncompressed and API Gateway does not negotiate it.
    "ws_per_message_deflate": False,
    "ws_ping_interval": 20.0,
    "ws_ping_timeout": 20.0,
    "lifespan": "on",
    "access_log": False,
    "log_level": "warning",
    "backlog": 2048,
    # Longer than any scenario's publish interval (chat: 5 s) and than a load balancer's idle
    # timeout (60 s is AWS ALB's and nginx's default): at uvicorn's 5 s a publisher posting every
    # 5 s raced the server closing its idle connection and lost ~1 % of its POSTs to
    # "connection closed". Backends should outlive the balancer's keep-alive, not the reverse.
    "timeout_keep_alive": 65,
    # Streams and held polls are ended first (see TargetServer); this only bounds stragglers,
    # and stays under the 5 s that tbench.process waits before SIGKILL.
    "timeout_graceful_shutdown": 3,
    "proxy_headers": False,
    "server_header": True,
    "date_header": True,
}


# CPython's young-generation GC threshold, raised from 700 for every target alike. At 700, a
# server answering ~1,000 requests/s collects gen 0 every ~20 ms, so each request still in
# progress (a long poll is held ~0.5 s) is promoted to the oldest generation before it ends;
# those promotions trigger a full collection every ~1.5 s that stalls the event loop for
# ~70 ms (long polling under `chat`: delivery p99 78 ms, SSE 6 ms). At 10,000 they mostly end
# young: no full collection during the run, p99 15-18 ms. Gen 1 and 2 keep CPython's defaults.
GC_THRESHOLDS = (10_000, 10, 10)


def tune_gc() -> None:
    """Apply GC_THRESHOLDS to this process (every target's server, once, before serving)."""
    gc.set_threshold(*GC_THRESHOLDS)


class TargetServer(uvicorn.Server):
    """uvicorn's server, ending the app's subscriptions and held polls as shutdown starts.

    It also lends the app its connections (`ClientConnections`), for the drop fault.
    """

    def __init__(self, config: uvicorn.Config, app: object) -> None:
        super().__init__(config)
        self.target_app = app
        connections = getattr(getattr(app, "state", None), "client_connections", None)
        if isinstance(connections, ClientConnections):
            connections.attach(self.server_state)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Close the app's broker (streams end, held polls answer), then shut down as usual."""
        broker = getattr(getattr(self.target_app, "state", None), "broker", None)
        close = getattr(broker, "close", None)
        if close is not None:
            await asyncio.wait_for(close(), timeout=1.0)
        await super().shutdown(sockets)


def add_admin_option(parser: argparse.ArgumentParser) -> None:
    """`--admin`, the same on every launcher (this one and the lambda emulator).

    Absent, it is None: the launcher falls back to `TBENCH_ADMIN` (`Settings.admin`).
    """
    parser.add_argument(
        "--admin",
        action="store_true",
        default=None,
        help="serve POST /_admin/drop, which closes every client connection (fault injection)",
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The launcher's command line."""
    parser = argparse.ArgumentParser(prog="python -m servers.launch", description=__doc__)
    parser.add_argument("app", help="the ASGI app as MODULE:ATTRIBUTE")
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (loopback)")
    parser.add_argument("--port", type=int, required=True, help="TCP port to bind")
    parser.add_argument("--history-size", type=int, help="messages kept per room")
    parser.add_argument("--history-max-age-s", type=float, help="seconds a message is kept")
    parser.add_argument("--queue-size", type=int, help="per-subscriber send queue")
    parser.add_argument("--sse-ping-s", type=float, help="SSE keep-alive interval")
    parser.add_argument("--long-poll-max-wait-s", type=float, help="cap on a long poll's wait")
    parser.add_argument("--broker", dest="broker_url", help="broker URL, e.g. memory://")
    parser.add_argument(
        "--cors-origin",
        metavar="ORIGIN",
        help="let exactly this browser origin in (CORS; WebSocket Origin check); none by default",
    )
    add_admin_option(parser)
    parser.add_argument(
        "--max-connections",
        type=int,
        metavar="N",
        help="subscriber connections served at once; more get 503 / close 1013 (10,000)",
    )
    parser.add_argument(
        "--request-timeout-s",
        type=float,
        metavar="S",
        help="time a client has to send a whole request before it is dropped (10 s)",
    )
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    """TBENCH_* environment settings, overridden by the flags given; raises SettingsError."""
    given = {name: getattr(args, name, None) for name in Settings.model_fields}
    return Settings.from_env(**{name: value for name, value in given.items() if value is not None})


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    # uvicorn re-raises the signal it caught once it has shut down; exit 0 rather than die by it.
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> None:
    """Parse flags, export them as TBENCH_* for the app, and serve until SIGTERM / SIGINT."""
    try:
        log_to_stderr()
    except LogLevelError as exc:
        sys.exit(f"servers.launch: {exc}")
    args = parse_args(argv)
    try:
        settings = settings_from(args)
    except SettingsError as exc:
        sys.exit(f"servers.launch: {exc}")
    os.environ.update(settings.to_env())  # the app reads them when its module is imported
    logger.debug("serving %s on %s with %s", args.app, host_port(args.host, args.port), settings)
    app = import_from_string(args.app)
    config = uvicorn.Config(app, host=args.host, port=args.port, **UVICORN_SETTINGS)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_cleanly)
    tune_gc()
    TargetServer(config, app).run()


if __name__ == "__main__":
    main()
