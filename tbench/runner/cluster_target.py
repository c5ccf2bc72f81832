"""`tbench run --replicas N --broker redis`: a target as a local cluster (tbench.cluster).

The runner samples every component together as "the server" (so CPU per 1,000 messages
counts replicas, Redis and nginx alike); this handle also samples each component on its own
and reports it under the target's `deployment` in run.json, with `resources-<component>.csv`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from contract.addresses import DEFAULT_HOST
from contract.registry import TargetSpec
from contract.results import ComponentResources, Deployment
from tbench.cluster import Cluster, Replication, check_cluster_options, check_deployment
from tbench.runner.resources import ResourceSampler, summarize
from tbench.runner.summarize import derived_metrics


def resolve_deployment(replicas: int, broker: str | None) -> Replication:
    """`--replicas` and `--broker` with the default broker filled in: Redis as soon as there
    are two (ValueError if they cannot work together)."""
    chosen = broker or ("redis" if replicas > 1 else "memory")
    check_deployment(replicas, chosen)
    return Replication(replicas, "redis" if chosen == "redis" else "memory")


def replicable(spec: TargetSpec) -> str | None:
    """None if `spec` can run as a cluster, else why not."""
    try:
        check_cluster_options(spec, 1, "redis")
    except ValueError as exc:
        return str(exc)
    return None


class ClusterTarget:
    """A target the runner starts as replicas + Redis + nginx, and stops afterwards."""

    def __init__(
        self,
        spec: TargetSpec,
        target_dir: Path,
        replication: Replication,
        host: str = DEFAULT_HOST,
    ) -> None:
        self.spec = spec
        self.target_dir = target_dir
        self.cluster = Cluster(spec, replication, host, log_dir=target_dir)
        self._samplers: dict[str, ResourceSampler] = {}

    @property
    def url(self) -> str:
        """The balancer's URL: clients reach nothing else."""
        return self.cluster.url

    @property
    def server_pid(self) -> int | None:
        """No single root process: see `server_pids`."""
        return None

    def server_pids(self) -> list[int]:
        """Every component's root process (the sampler adds their children)."""
        return self.cluster.pids

    def start(self) -> None:
        """Start Redis, replicas and nginx (raises TargetStartError); sample each one."""
        self.cluster.start()
        for name, pid in self.cluster.components().items():
            sampler = ResourceSampler(server_pids=_constant([pid]), loadgen_pids=_constant([]))
            self._samplers[name] = sampler.start()

    def alive(self) -> bool:
        """Whether every component still runs."""
        return self.cluster.alive()

    def stop(self) -> None:
        """Stop sampling (each component's CSV is written) and the whole cluster."""
        for name, sampler in self._samplers.items():
            sampler.stop(self.target_dir / f"resources-{name}.csv")
        self.cluster.stop()

    def failure_detail(self) -> str:
        """The end of every component's log."""
        return self.cluster.log_tail()

    def deployment(
        self, start: float, end: float, metrics: dict[str, float | int | None]
    ) -> Deployment:
        """Replicas, broker, balancer, versions, and each component's resources in [start, end]."""
        components: dict[str, ComponentResources] = {}
        pids = self.cluster.components()
        for name, sampler in self._samplers.items():
            figures = {
                key: value
                for key, value in summarize(sampler.series, start, end).items()
                if key.startswith("server_") and key != "server_rss_per_connection_bytes"
            }
            per_message = {
                "delivered_per_s": metrics.get("delivered_per_s"),
                "measured_s": metrics.get("measured_s"),
                "server_cpu_s": figures.get("server_cpu_s"),
            }
            figures |= derived_metrics(per_message)
            components[name] = ComponentResources.model_validate({"pid": pids.get(name), **figures})
        deployment = self.cluster.deployment()
        deployment.components = components
        return deployment


def server_pids_of(handle: object) -> Callable[[], list[int]]:
    """The process ids the runner samples as "the server" of any target handle."""
    if isinstance(handle, ClusterTarget):
        return handle.server_pids

    def current() -> list[int]:
        # asked at every sample: a restarted server (`--faults restart`) has a new pid
        pid = getattr(handle, "server_pid", None)
        return [pid] if pid is not None else []

    return current


def _constant(pids: list[int]) -> Callable[[], list[int]]:
    return lambda: pids
