"""Replicas in local mode: N processes of one target sharing rooms through Redis, behind nginx.

The same life cycle as a single `TargetProcess` (start with a healthy wait, url, stop), plus
the process ids of every component, so a run can sample each replica, Redis and the balancer.
Clients reach the balancer only.
"""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from contract.addresses import DEFAULT_HOST
from contract.registry import ASGI_LAUNCHER, TargetSpec
from contract.results import Deployment
from tbench.balancer import NginxBalancer, find_nginx
from tbench.process import Spawn, TargetProcess, TargetStartError, wait_healthy
from tbench.redis_server import REDIS_EXECUTABLE, RedisServer

BrokerKind = Literal["memory", "redis"]
BROKERS: tuple[BrokerKind, ...] = ("memory", "redis")
BALANCER = "nginx"


@dataclass(frozen=True)
class Replication:
    """How each target is deployed: `replicas` server processes sharing rooms through `broker`."""

    replicas: int
    broker: BrokerKind

    @property
    def clustered(self) -> bool:
        """Whether targets run as clusters behind nginx rather than as one process each."""
        return self.replicas > 1 or self.broker != "memory"


class Cluster:
    """`replicas` processes of `spec` on one broker, behind one nginx."""

    def __init__(
        self,
        spec: TargetSpec,
        replication: Replication = Replication(2, "redis"),
        host: str = DEFAULT_HOST,
        extra_args: tuple[str, ...] = (),
        log_dir: Path | None = None,
    ) -> None:
        replicas, broker = replication.replicas, replication.broker
        check_cluster_options(spec, replicas, broker)
        self.spec = spec
        self.broker: BrokerKind = broker
        self.host = host
        self.log_dir = log_dir
        self.redis = (
            RedisServer(host, log_path=self._log("redis.log")) if broker == "redis" else None
        )
        broker_args = ("--broker", self.redis.url) if self.redis is not None else ()
        self.replicas = [
            TargetProcess(
                spec,
                host,
                extra_args=(*extra_args, *broker_args),
                spawn=Spawn(log_path=self._log(f"replica-{index}.log")),
            )
            for index in range(1, replicas + 1)
        ]
        self.balancer = NginxBalancer(
            [replica.address for replica in self.replicas],
            host,
            work_dir=log_dir / BALANCER if log_dir is not None else None,
        )

    def _log(self, name: str) -> Path | None:
        return self.log_dir / name if self.log_dir is not None else None

    @property
    def url(self) -> str:
        """The client base URL: the balancer's."""
        return self.spec.url(self.host, self.balancer.port)

    def components(self) -> dict[str, int]:
        """Process id of each started component: replica-1..N, redis, nginx."""
        found: dict[str, int] = {}
        for index, replica in enumerate(self.replicas, 1):
            if replica.proc is not None:
                found[f"replica-{index}"] = replica.pid
        if self.redis is not None and self.redis.proc is not None:
            found["redis"] = self.redis.pid
        if self.balancer.proc is not None:
            found[BALANCER] = self.balancer.pid
        return found

    @property
    def pids(self) -> list[int]:
        """Every component's root process (sample them with their children)."""
        return list(self.components().values())

    def start(self, timeout_s: float = 60.0) -> Cluster:
        """Start Redis, the replicas (in parallel), then nginx; wait until healthy through it."""
        try:
            if self.redis is not None:
                self.redis.start()
            with ThreadPoolExecutor(len(self.replicas)) as pool:
                for started in pool.map(lambda r: r.start(timeout_s), self.replicas):
                    assert started.alive()
            self.balancer.start()
            wait_healthy(f"{self.balancer.url}/healthz", timeout_s, self.balancer.proc)
        except (TargetStartError, OSError) as exc:
            detail = self.log_tail()
            self.stop()
            raise TargetStartError(f"{self.spec.name} cluster: {exc}\n{detail}") from None
        return self

    def alive(self) -> bool:
        """Whether every component still runs."""
        running = [replica.alive() for replica in self.replicas] + [self.balancer.alive()]
        if self.redis is not None:
            running.append(self.redis.alive())
        return all(running)

    def log_tail(self, max_bytes: int = 1000) -> str:
        """The end of each component's log, labelled."""
        parts = [
            f"[replica-{index}] {replica.log_tail(max_bytes)}"
            for index, replica in enumerate(self.replicas, 1)
        ]
        if self.redis is not None:
            parts.append(f"[redis] {self.redis.log_tail(max_bytes)}")
        parts.append(f"[{BALANCER}] {self.balancer.log_tail(max_bytes)}")
        return "\n".join(part for part in parts if not part.endswith("] "))

    def deployment(self) -> Deployment:
        """What a result records about this deployment."""
        versions = {BALANCER: tool_version([find_nginx(), "-v"])}
        if self.redis:
            versions["redis"] = tool_version([REDIS_EXECUTABLE, "--version"])
        return Deployment(
            replicas=len(self.replicas), broker=self.broker, balancer=BALANCER, versions=versions
        )

    def stop(self) -> None:
        """Stop the balancer, the replicas, then Redis."""
        self.balancer.stop()
        with ThreadPoolExecutor(len(self.replicas)) as pool:
            list(pool.map(lambda replica: replica.stop(), self.replicas))
        if self.redis is not None:
            self.redis.stop()

    def __enter__(self) -> Cluster:
        return self.start() if self.balancer.proc is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def check_cluster_options(spec: TargetSpec, replicas: int, broker: str) -> None:
    """Refuse what cannot work, saying why (ValueError)."""
    if spec.launcher != ASGI_LAUNCHER:
        raise ValueError(
            f"{spec.name} is not started by servers.launch and has no room broker to share "
            "(API Gateway + Lambda scales on its own): replicas apply to the other targets"
        )
    check_deployment(replicas, broker)


def check_deployment(replicas: int, broker: str) -> None:
    """Refuse a replica count and broker that cannot work together, whatever the target."""
    if broker not in BROKERS:
        raise ValueError(f"unknown broker {broker!r}; use one of {', '.join(BROKERS)}")
    if replicas < 1:
        raise ValueError("--replicas must be >= 1")
    if replicas > 1 and broker == "memory":
        raise ValueError("--replicas > 1 must share rooms: use the redis broker (--broker redis)")


def tool_version(argv: list[str]) -> str:
    """The version a tool prints (`nginx -v`, `redis-server --version`), or 'unknown'."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    found = re.search(r"(\d+\.\d+(?:\.\d+)?)", done.stdout + done.stderr)
    return found.group(1) if found else "unknown"
