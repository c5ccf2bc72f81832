"""`tbench run`: per target start (or reach), verify, load with Locust, sample, record.

run.json is rewritten after every target (and on Ctrl-C), so a failure or an interruption
never loses the targets already measured. Children are stopped in `finally` blocks.
"""

from __future__ import annotations

import contextlib
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from rich.console import Console

from contract.addresses import DEFAULT_HOST
from contract.loadgen import LiveStatus, LoadgenResult
from contract.network_profile import NetworkProfile
from contract.registry import TargetSpec
from contract.results import (
    FLAG_FAULTS,
    LOADGEN_FILE,
    STATUS_FILE,
    CpuModel,
    Deployment,
    LoadGenerator,
    RunResult,
    TargetResult,
    TargetStatus,
    save_run,
)
from contract.scenario import JOIN_TIMEOUT_S, FaultKind, Scenario
from loadtests import scenario_files
from loadtests.users import user_class_name
from servers.lambda_ws.cpu_model import sweep_stale
from tbench.lambda_tune import read_cpu_model
from tbench.process import TargetStartError
from tbench.runner import lambda_target, metadata
from tbench.runner.cluster_target import (
    ClusterTarget,
    replicable,
    resolve_deployment,
    server_pids_of,
    wants_cluster,
)
from tbench.runner.docker_stats import (
    LOADGEN_LABEL,
    TARGET_LABEL,
    DockerClientLike,
    DockerStatsError,
    DockerStatsSampler,
    connect,
    find_containers,
)
from tbench.runner.faults import (
    ADMIN_OPTION,
    FaultInjector,
    fault_outcomes,
    refusal,
    resume_covers_s,
)
from tbench.runner.live import LiveDisplay
from tbench.runner.liveness import LivenessWatch
from tbench.runner.locust_process import LocustPlan, LocustRun
from tbench.runner.netns import EmulatedLink, NetworkSetupError, prerequisite_problem
from tbench.runner.resources import ResourceSampler, summarize
from tbench.runner.summarize import derived_metrics, flags_for, loadgen_metrics
from tbench.runner.targets import GivenTarget, StartedTarget, TargetHandle, parse_target_urls
from tbench.runner.verification import Verification, verify_all

POLL_INTERVAL_S = 0.5
# Locust's own --run-time cap: the scenario's nominal length, stretched for slow joins (the
# conductor waits for every user to join, up to its JOIN_TIMEOUT_S) and a busy host
RUN_TIME_STRETCH = 1.5
RUN_TIME_SLACK_S = JOIN_TIMEOUT_S + 30.0
DEADLINE_SLACK_S = 60.0  # the runner's hard stop beyond Locust's cap
NETWORK_SERVER_PORT = 8000  # inside the server's own namespace: nothing else listens there


class TargetFailed(Exception):
    """This target could not be measured; the message says why."""


@dataclass
class RunOptions:
    """What `tbench run` was asked to do."""

    targets: list[TargetSpec]
    scenario_ref: str = scenario_files.DEFAULT_SCENARIO
    out_root: Path = Path("results")
    workers: int = 0
    remote_workers: int = 0
    master_port: int | None = None
    url: str | None = None  # a running target (exactly one), instead of starting it
    verify: bool = True
    server_pid: int | None = None  # --url's server process on this machine, sampled as the server
    host: str = DEFAULT_HOST
    run_id: str | None = None
    command: list[str] = field(default_factory=lambda: list(sys.argv))
    replicas: int = 1  # > 1: server processes per target behind nginx (tbench.cluster)
    broker: str | None = None  # memory | redis; None: redis as soon as replicas > 1
    target_urls: list[str] = field(default_factory=list)  # NAME=URL: running targets (compose)
    docker_stats: bool = False  # sample the given targets' containers through the Docker API
    faults: list[FaultKind] = field(default_factory=list)  # inject these (scenario's otherwise)
    hang_timeout_s: float = 30.0  # a target silent on /healthz this long is failed as hung
    cpu_model: bool = True  # Lambda's CPU model in the emulator (--no-cpu-model: off)
    networks: list[NetworkProfile] = field(default_factory=list)  # each target under each
    network_mechanism: str = "auto"  # auto | netem | relay (tbench/runner/netns.py)


@dataclass(frozen=True)
class Measurement:
    """One entry of the run: a target, under a network profile or on loopback."""

    key: str  # run.json's key: the target's name, `name@profile` under --network
    spec: TargetSpec
    network: NetworkProfile | None


def locust_scenario_ref(ref: str) -> str:
    """A shipped scenario by name; any other file by absolute path (workers resolve it too)."""
    path = scenario_files.scenario_path(ref)
    if path.resolve().parent == scenario_files.SCENARIO_DIR:
        return path.stem
    return str(path.resolve())


class ComparisonRun:
    """One `tbench run`: its directory, its run.json, its targets one after another."""

    def __init__(self, options: RunOptions, console: Console) -> None:
        if options.url is not None and len(options.targets) != 1:
            raise ValueError("--url names one running target, so it takes exactly one target")
        self.replicas, self.broker = resolve_deployment(options.replicas, options.broker)
        self.given_urls = parse_target_urls(options.target_urls)
        if options.url is not None:
            self.given_urls[options.targets[0].name] = options.url
        if options.server_pid is not None:
            if options.url is None:
                raise ValueError("--server-pid names the process of the server given by --url")
            if not psutil.pid_exists(options.server_pid):
                raise ValueError(f"--server-pid {options.server_pid}: no such process")
            if options.docker_stats:
                raise ValueError("--server-pid and --docker-stats both name what to sample")
        if self.given_urls and wants_cluster(self.replicas, self.broker):
            raise ValueError(
                "--url/--target-url measure running targets: --replicas/--broker start them"
            )
        self.docker: tuple[DockerClientLike, str | None] | None = None
        if options.docker_stats:
            if not self.given_urls:
                raise ValueError("--docker-stats samples the containers of --target-url targets")
            try:
                self.docker = connect()
            except DockerStatsError as exc:
                raise ValueError(str(exc)) from None
        if options.networks:
            if self.given_urls or wants_cluster(self.replicas, self.broker):
                raise ValueError(
                    "--network starts each target in its own network namespace: it does not "
                    "combine with --url/--target-url/--replicas/--broker"
                )
            if options.remote_workers:
                raise ValueError("--network runs Locust in a namespace: no --remote-workers")
            problem = prerequisite_problem(options.network_mechanism)
            if problem:
                raise ValueError(problem)
        self.measurements = [
            Measurement(f"{spec.name}@{profile.name}", spec, profile)
            for profile in options.networks
            for spec in options.targets
        ] or [Measurement(spec.name, spec, None) for spec in options.targets]
        self.options = options
        self.console = console
        self.scenario: Scenario = scenario_files.load(options.scenario_ref)
        if options.faults:
            self.scenario = self.scenario.with_faults(options.faults)
        if self.scenario.faults is not None:
            for spec in options.targets:
                why = refusal(
                    self.scenario.faults.kinds,
                    started_here=spec.name not in self.given_urls,
                    cluster=wants_cluster(self.replicas, self.broker),
                )
                if why is not None:
                    raise ValueError(f"{spec.name}: {why}")
        self.scenario_ref = locust_scenario_ref(options.scenario_ref)
        self.run_id = options.run_id or metadata.new_run_id()
        self.run_dir = options.out_root / self.run_id
        self.run_tag = f"r{secrets.token_hex(3)}"
        commit, dirty = metadata.git_state()
        self.run = RunResult(
            run_id=self.run_id,
            git_commit=commit,
            git_dirty=dirty,
            started_at=metadata.now_iso(),
            command=options.command,
            host=metadata.host_info(),
            python=sys.version.split()[0],
            packages=metadata.package_versions(),
            scenario=self.scenario,
            load_generator=LoadGenerator(
                workers=options.workers,
                remote_workers=options.remote_workers,
                mode="distributed" if options.workers + options.remote_workers else "local",
            ),
            held_equal=metadata.held_equal(),
            targets={
                item.key: TargetResult(target=item.spec.name, family=item.spec.family)
                for item in self.measurements
            },
        )

    def save(self) -> None:
        """Rewrite run.json and summary.csv (atomically)."""
        save_run(self.run_dir, self.run)

    def execute(self) -> RunResult:
        """Measure every target; on Ctrl-C mark the current one interrupted and re-raise."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.save()
        current: TargetResult | None = None
        names = [item.key for item in self.measurements]
        try:
            with LiveDisplay(self.console, names) as live:
                verdicts = self._verify_all(live)
                for index, item in enumerate(self.measurements):
                    current = self.run.targets[item.key]
                    self._measure(item, index, current, live, verdicts.get(item.spec.name))
                    self.save()
                    current = None
            self.run.status = "complete"
        except KeyboardInterrupt:
            self.run.status = "interrupted"
            if current is not None:
                current.status = TargetStatus.INTERRUPTED
                current.error = "interrupted (Ctrl-C / SIGTERM)"
                current.ended_at = current.ended_at or metadata.now_iso()
            raise
        finally:
            self.run.ended_at = metadata.now_iso()
            self.save()
        return self.run

    def _handle(
        self, spec: TargetSpec, target_dir: Path, link: EmulatedLink | None = None
    ) -> TargetHandle:
        faults = self.scenario.faults
        admin = (ADMIN_OPTION,) if faults is not None and "drop" in faults.kinds else ()
        cpu = spec.cpu_model_args(self.options.cpu_model)
        if link is not None:  # in the server's namespace, on the shaped path's address
            return StartedTarget(
                spec,
                target_dir / "server.log",
                link.addresses.server,
                (*admin, *cpu),
                port=NETWORK_SERVER_PORT,
                launcher=link.launcher(link.server_ns),
            )
        if spec.name in self.given_urls:
            # --server-pid comes only with --url, which measures exactly this one target
            return GivenTarget(spec, self.given_urls[spec.name], self.options.server_pid)
        if wants_cluster(self.replicas, self.broker) and replicable(spec) is None:
            return ClusterTarget(spec, target_dir, self.replicas, self.broker, self.options.host)
        return StartedTarget(spec, target_dir / "server.log", self.options.host, (*admin, *cpu))

    def _verify_all(self, live: LiveDisplay) -> dict[str, Verification]:
        """Verify before benchmark; all targets at once, each on its own fresh server."""
        if not self.options.verify:
            return {}
        for item in self.measurements:
            live.update(item.key, phase="verifying")
        return verify_all(self.options.targets, self.given_urls)

    def _sampler(
        self, spec: TargetSpec, handle: TargetHandle, loadgen_pids: Callable[[], list[int]]
    ) -> ResourceSampler:
        """psutil on the processes started here; the Docker API on a given target's containers."""
        if self.docker is None or not isinstance(handle, GivenTarget):
            return ResourceSampler(server_pids=server_pids_of(handle), loadgen_pids=loadgen_pids)
        client, project = self.docker
        server = find_containers(client, TARGET_LABEL, spec.name, project)
        if not server:
            self.console.print(
                f"[yellow]{spec.name}: no running container labelled {TARGET_LABEL}={spec.name}"
                f"{f' in project {project}' if project else ''}: server resources not sampled[/]"
            )
        loadgen = find_containers(client, LOADGEN_LABEL, "true", project)
        return DockerStatsSampler(server, loadgen, loadgen_pids)

    def _measure(
        self,
        item: Measurement,
        index: int,
        result: TargetResult,
        live: LiveDisplay,
        verdict: Verification | None,
    ) -> None:
        key = item.key
        target_dir = self.run_dir / key
        target_dir.mkdir(parents=True, exist_ok=True)
        result.started_at = metadata.now_iso()
        try:
            if verdict is not None:
                result.verification = verdict.to_record()
                if not verdict.passed:
                    raise TargetFailed("failed verification: " + "; ".join(verdict.failures[:5]))
            live.update(key, phase="waiting")
            with contextlib.ExitStack() as stack:
                link = None
                if item.network is not None:
                    live.update(key, phase="network")
                    link = EmulatedLink(item.network, index, self.options.network_mechanism)
                    stack.enter_context(link)
                self._load(item.spec, key, result, target_dir, live, link)
            result.status = TargetStatus.OK
            note = ", ".join(result.flags) if result.flags else "ok"
            live.update(key, phase="done", note=note)
        except Exception as exc:  # one target's failure must not lose the others
            result.status = TargetStatus.FAILED
            known = isinstance(exc, TargetFailed | NetworkSetupError)
            result.error = str(exc) if known else repr(exc)
            live.update(key, phase="failed", note=result.error.splitlines()[0][:80])
        finally:
            result.ended_at = metadata.now_iso()
            result.files = self._files(target_dir)

    def _load(
        self,
        spec: TargetSpec,
        key: str,
        result: TargetResult,
        target_dir: Path,
        live: LiveDisplay,
        link: EmulatedLink | None,
    ) -> None:
        handle = self._handle(spec, target_dir, link)
        live.update(key, phase="starting")
        try:
            handle.start()
        except TargetStartError as exc:
            raise TargetFailed(f"did not start: {exc}") from None
        if link is not None:
            result.network = link.describe().with_rtt(link.measure_rtt(NETWORK_SERVER_PORT))
        plan = LocustPlan(
            user_class=user_class_name(spec),
            url=handle.url,
            scenario_ref=self.scenario_ref,
            users=self.scenario.users,
            spawn_rate=self.scenario.spawn_rate,
            out_dir=target_dir,
            run_tag=self.run_tag,
            run_time_s=self.scenario.expected_run_s() * RUN_TIME_STRETCH + RUN_TIME_SLACK_S,
            workers=self.options.workers,
            remote_workers=self.options.remote_workers,
            master_port=self.options.master_port,
            faults_json=self.scenario.faults.model_dump_json() if self.scenario.faults else "",
            launcher=link.launcher(link.client_ns) if link is not None else (),
        )
        result.url = handle.url
        locust = LocustRun(plan)
        sampler = self._sampler(spec, handle, lambda: locust.pids)
        injector = FaultInjector(handle)
        watch = LivenessWatch(handle.url)
        cpu_state: CpuModel | None = None
        try:
            sampler.start()
            watch.start()
            locust.start()
            if self.options.remote_workers:
                self.console.print(
                    f"waiting for {self.options.remote_workers} remote worker(s): on each run "
                    f"`locust -f loadtests/locustfile.py --worker --master-host <this host> "
                    f"--master-port {locust.master_port}`"
                )
            self._follow(spec, key, handle, locust, plan, live, injector, watch)
            if lambda_target.has_cpu_model(spec) and not handle.url.startswith("wss://"):
                cpu_state = read_cpu_model(handle.url)  # the emulator's (not a real stage's)
        finally:
            watch.stop()
            locust.stop()
            series = sampler.stop(target_dir / "resources.csv")
            if link is not None and result.network is not None:
                result.network = result.network.with_retransmissions(link.tcp_retransmissions())
            handle.stop()
            if lambda_target.has_cpu_model(spec) and isinstance(handle, StartedTarget):
                sweep_stale()  # the groups of an emulator killed before its cleanup
        loadgen_path = target_dir / LOADGEN_FILE
        if not loadgen_path.exists():
            raise TargetFailed(
                f"Locust ended without results (exit code {locust.poll()}):\n{locust.log_tail()}"
            )
        loadgen = LoadgenResult.read(loadgen_path)
        metrics = loadgen_metrics(loadgen)
        metrics |= summarize(series, *loadgen.measured_window())
        metrics |= derived_metrics(metrics)
        result.metrics = metrics
        result.sweep = loadgen.sweep
        result.flags = flags_for(metrics)
        if link is not None and result.network is not None:
            link.stop()  # the relay's counters are final once it has stopped
            if link.relay_counters is not None:
                result.network = result.network.with_relay(
                    link.relay_counters, metrics.get("delivered")
                )
        if self.scenario.faults is not None:
            result.faults = fault_outcomes(
                loadgen.faults,
                injector.injections,
                series.rows,
                self.scenario.faults.late_after_s,
                resume_covers_s(
                    self.scenario,
                    self.run.held_equal.limits.history_size if self.run.held_equal else None,
                    spec.supports_resume,
                ),
            )
            result.flags.append(FLAG_FAULTS)
        if isinstance(handle, ClusterTarget):
            result.deployment = handle.deployment(*loadgen.measured_window(), metrics)
        elif wants_cluster(self.replicas, self.broker):
            result.deployment = Deployment(replicas=1, note=replicable(spec))
        elif isinstance(sampler, DockerStatsSampler):
            result.deployment = Deployment(runtime="docker", containers=sampler.server_containers)
        lambda_target.record(result, cpu_state)
        if lambda_target.has_cpu_model(spec) and isinstance(handle, StartedTarget):
            live.update(spec.name, phase="tuning memory")
            error = lambda_target.short_tune(result, target_dir, self.options.cpu_model)
            if error is not None:
                self.console.print(f"[yellow]{spec.name}: no memory tune: {error}[/]")

    def _follow(
        self,
        spec: TargetSpec,
        key: str,
        handle: TargetHandle,
        locust: LocustRun,
        plan: LocustPlan,
        live: LiveDisplay,
        injector: FaultInjector,
        watch: LivenessWatch,
    ) -> None:
        deadline = time.monotonic() + plan.run_time_s + DEADLINE_SLACK_S
        status_path = plan.out_dir / STATUS_FILE
        live.update(key, phase="spawning")
        while locust.poll() is None:
            if time.monotonic() > deadline:
                raise TargetFailed(f"Locust did not finish within {plan.run_time_s:.0f} s")
            status = LiveStatus.read(status_path)  # once per round: live row and fault schedule
            for slot, injection in injector.poll(status.faults if status is not None else []):
                note = injection.error or f"{slot.kind} injected"
                live.update(key, phase=f"fault: {slot.kind}", note=note[:80])
            if (isinstance(handle, StartedTarget) and not handle.process.alive()) or (
                isinstance(handle, ClusterTarget) and not handle.alive()
            ):
                raise TargetFailed(f"the server exited during the run:\n{handle.failure_detail()}")
            if watch.silent_for() > self.options.hang_timeout_s:
                raise TargetFailed(
                    f"the server hung: no answer on {watch.url} for {watch.silent_for():.0f} s "
                    f"(--hang-timeout-s {self.options.hang_timeout_s:g})"
                )
            live.follow_status(key, status)
            time.sleep(POLL_INTERVAL_S)
        live.follow_status(key, LiveStatus.read(status_path))

    def _files(self, target_dir: Path) -> dict[str, str]:
        files = {}
        for path in sorted(target_dir.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                files[str(path.relative_to(target_dir))] = str(path.relative_to(self.run_dir))
        return files
