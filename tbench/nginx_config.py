"""The nginx configuration of the load balancer in front of a target's replicas.

One generator for local mode (`tbench.cluster`) and for containers (docker compose runs
`python -m tbench.nginx_config --upstream sse-1:8000 --upstream sse-2:8000 --listen 8080`):
addresses and runtime paths are parameters; what long-lived connections need is not —
WebSocket upgrades, SSE and long polls unbuffered, read timeouts far above the 30 s poll cap,
Last-Event-ID passed through, enough connections per worker.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import jinja2

UPSTREAM_NAME = "targets"
# uvicorn closes idle keep-alive connections after 5 s (servers.launch): nginx lets its own
# idle upstream connections go first, so it never sends a request on one being closed.
UPSTREAM_KEEPALIVE_TIMEOUT_S = 4
DEFAULT_WORKER_CONNECTIONS = 16_384  # each proxied client holds two: client and upstream side
PROXY_TIMEOUT_S = 3600  # SSE and WebSocket connections stay open; long polls wait <= 30 s


@dataclass(frozen=True)
class BalancerConfig:
    """What varies between deployments of the balancer."""

    upstreams: tuple[str, ...]  # "host:port" of each replica
    listen: str  # "127.0.0.1:8080", or "8080" for every address (containers)
    runtime_dir: str  # pid file, error log and temp paths
    worker_processes: int = 1
    worker_connections: int = DEFAULT_WORKER_CONNECTIONS
    user: str | None = None  # workers' user when the master runs as root

    def __post_init__(self) -> None:
        if not self.upstreams:
            raise ValueError("the balancer needs at least one upstream")
        if self.worker_processes < 1 or self.worker_connections < 64:
            raise ValueError("worker_processes must be >= 1 and worker_connections >= 64")

    @property
    def rlimit_nofile(self) -> int:
        """Descriptors a worker may open: both sides of every connection, plus some."""
        return 2 * self.worker_connections + 64

    def render(self) -> str:
        """The complete nginx.conf (templates/nginx.conf.j2)."""
        return _template().render(
            config=self,
            run=self.runtime_dir.rstrip("/"),
            upstream_name=UPSTREAM_NAME,
            upstream_keepalive_timeout_s=UPSTREAM_KEEPALIVE_TIMEOUT_S,
            proxy_timeout_s=PROXY_TIMEOUT_S,
        )


@functools.cache
def _template() -> jinja2.Template:
    # Not HTML: nothing to escape; a block tag's own line leaves no blank line behind.
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("tbench", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        autoescape=False,
    )
    return environment.get_template("nginx.conf.j2")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The generator's command line."""
    parser = argparse.ArgumentParser(
        prog="python -m tbench.nginx_config", description="Print the balancer's nginx.conf."
    )
    parser.add_argument(
        "--upstream", action="append", required=True, help="replica host:port (repeat)"
    )
    parser.add_argument("--listen", default="8080", help="address:port or port to listen on")
    parser.add_argument("--runtime-dir", default="/tmp/nginx", help="pid, error log, temp files")
    parser.add_argument("--worker-processes", type=int, default=1)
    parser.add_argument("--worker-connections", type=int, default=DEFAULT_WORKER_CONNECTIONS)
    parser.add_argument("--user", help="workers' user when nginx starts as root")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Print the configuration for the upstreams given."""
    args = parse_args(argv)
    config = BalancerConfig(
        tuple(args.upstream),
        args.listen,
        args.runtime_dir,
        args.worker_processes,
        args.worker_connections,
        args.user,
    )
    sys.stdout.write(config.render())


if __name__ == "__main__":
    main()
