"""What `tbench run` is asked to do, and the rules its options keep before anything starts."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from contract.addresses import DEFAULT_HOST
from contract.network_profile import NetworkProfile
from contract.registry import TargetSpec
from contract.results import Deployment
from contract.scenario import FaultKind, Scenario
from loadtests import scenario_files
from tbench.cluster import Replication
from tbench.confine import quota_problem
from tbench.runner.cluster_target import resolve_deployment
from tbench.runner.faults import refusal
from tbench.runner.netns import prerequisite_problem
from tbench.runner.targets import parse_target_urls


@dataclass(frozen=True, kw_only=True)
class LoadOptions:
    """Who generates the load: local Locust workers, and remote ones the master waits for."""

    workers: int = 0
    remote_workers: int = 0
    master_port: int | None = None


@dataclass(frozen=True, kw_only=True)
class GivenOptions:
    """Targets already running (docker compose, a deployed stage): reached, not started."""

    url: str | None = None  # a running target (exactly one), instead of starting it
    server_pid: int | None = None  # --url's server process on this machine, sampled as the server
    target_urls: list[str] = field(default_factory=list)  # NAME=URL: running targets (compose)
    docker_stats: bool = False  # sample the given targets' containers through the Docker API
    # --url's deployment as its deployer knows it (`tbench aws run`'s stack), recorded as is
    deployment: Deployment | None = None


@dataclass(frozen=True, kw_only=True)
class StartOptions:
    """How the targets started here run."""

    host: str = DEFAULT_HOST
    replicas: int = 1  # > 1: server processes per target behind nginx (tbench.cluster)
    broker: str | None = None  # memory | redis; None: redis as soon as replicas > 1
    cpu_model: bool = True  # Lambda's CPU model in the emulator (--no-cpu-model: off)


@dataclass(frozen=True, kw_only=True)
class NetworkOptions:
    """Emulated links to measure over (--network), and how they are built."""

    profiles: list[NetworkProfile] = field(default_factory=list)  # each target under each
    mechanism: str = "auto"  # auto | netem | relay (tbench/runner/netns.py)


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """What `tbench run` was asked to do."""

    targets: list[TargetSpec]
    scenario_ref: str = scenario_files.DEFAULT_SCENARIO
    faults: list[FaultKind] = field(default_factory=list)  # inject these (scenario's otherwise)
    out_root: Path = Path("results")
    run_id: str | None = None
    command: list[str] = field(default_factory=lambda: list(sys.argv))
    verify: bool = True
    hang_timeout_s: float = 30.0  # a target silent on /healthz this long is failed as hung
    load: LoadOptions = field(default_factory=LoadOptions)
    given: GivenOptions = field(default_factory=GivenOptions)
    start: StartOptions = field(default_factory=StartOptions)
    network: NetworkOptions = field(default_factory=NetworkOptions)


@dataclass(frozen=True)
class CheckedOptions:
    """What checking the options resolved: running targets' URLs, replication, scenario."""

    given_urls: dict[str, str]  # target name -> URL: measured where they run
    replication: Replication
    scenario: Scenario  # with --faults applied


def check(options: RunOptions) -> CheckedOptions:
    """Every rule of the options, before anything starts; ValueError or ScenarioError if one
    fails, saying which."""
    urls = given_urls(options)
    replication = resolve_deployment(options.start.replicas, options.start.broker)
    _check_given(options.given, urls, replication)
    _check_network(options, urls, replication)
    _check_machine(options)
    scenario = scenario_files.load(options.scenario_ref)
    if options.faults:
        scenario = scenario.with_faults(options.faults)
    _check_faults(scenario, options.targets, urls, replication)
    _check_capacity(scenario, options.targets, replication)
    _check_overload(scenario, options.targets, replication)
    return CheckedOptions(urls, replication, scenario)


def _check_capacity(
    scenario: Scenario, targets: Sequence[TargetSpec], replication: Replication
) -> None:
    """A capacity ramp confines one server process of a container target: say so up front."""
    if scenario.sweep is None or scenario.sweep.cpu_quota_vcpu is None:
        return
    if lambdas := [spec.name for spec in targets if spec.no_cpu_model_option is not None]:
        raise ValueError(
            f"{scenario.name} holds a container target's server to a CPU quota; "
            f"{', '.join(lambdas)} has Lambda's CPU model instead: leave it out of --targets"
        )
    if replication.clustered:
        raise ValueError(f"{scenario.name} confines one server process: no --replicas")
    if (problem := quota_problem()) is not None:
        raise ValueError(f"{scenario.name} needs a CPU quota: {problem}")


def _check_overload(
    scenario: Scenario, targets: Sequence[TargetSpec], replication: Replication
) -> None:
    """An overload caps one server process at its knee (and confines it, if it has a quota)."""
    if scenario.overload is None:
        return
    if replication.clustered:
        raise ValueError(f"{scenario.name} caps one server process at its knee: no --replicas")
    confined = [spec for spec in targets if spec.no_cpu_model_option is None]
    if scenario.overload.cpu_quota_vcpu and confined and (problem := quota_problem()):
        raise ValueError(
            f"{scenario.name} holds {confined[0].name}'s server to "
            f"{scenario.overload.cpu_quota_vcpu:g} vCPU: {problem} "
            "(or set [overload] cpu_quota_vcpu = 0 in a scenario of your own)"
        )


def given_urls(options: RunOptions) -> dict[str, str]:
    """{target name: URL} of the targets given running (--url, --target-url); ValueError if
    malformed."""
    url = options.given.url
    if url is not None and len(options.targets) != 1:
        raise ValueError("--url names one running target, so it takes exactly one target")
    urls = parse_target_urls(options.given.target_urls)
    if url is not None:
        urls[options.targets[0].name] = url
    return urls


def _check_given(given: GivenOptions, urls: Mapping[str, str], replication: Replication) -> None:
    if given.server_pid is not None:
        if given.url is None:
            raise ValueError("--server-pid names the process of the server given by --url")
        if given.docker_stats:
            raise ValueError("--server-pid and --docker-stats both name what to sample")
    if urls and replication.clustered:
        raise ValueError(
            "--url/--target-url measure running targets: --replicas/--broker start them"
        )
    if given.docker_stats and not urls:
        raise ValueError("--docker-stats samples the containers of --target-url targets")


def _check_network(options: RunOptions, urls: Mapping[str, str], replication: Replication) -> None:
    if not options.network.profiles:
        return
    if urls or replication.clustered:
        raise ValueError(
            "--network starts each target in its own network namespace: it does not "
            "combine with --url/--target-url/--replicas/--broker"
        )
    if options.load.remote_workers:
        raise ValueError("--network runs Locust in a namespace: no --remote-workers")


def _check_machine(options: RunOptions) -> None:
    """What this machine must offer: the --server-pid process, what --network builds with."""
    pid = options.given.server_pid
    if pid is not None and not psutil.pid_exists(pid):
        raise ValueError(f"--server-pid {pid}: no such process")
    if options.network.profiles:
        problem = prerequisite_problem(options.network.mechanism)
        if problem:
            raise ValueError(problem)


def _check_faults(
    scenario: Scenario,
    targets: Sequence[TargetSpec],
    urls: Mapping[str, str],
    replication: Replication,
) -> None:
    if scenario.faults is None:
        return
    for spec in targets:
        why = refusal(
            scenario.faults.kinds,
            started_here=spec.name not in urls,
            cluster=replication.clustered,
        )
        if why is not None:
            raise ValueError(f"{spec.name}: {why}")
