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
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from contract.loadgen import LiveStatus, LoadgenResult
from contract.network_profile import NetworkProfile
from contract.registry import TargetSpec
from contract.results import (
    FLAG_FAULTS,
    FLAG_SOAK_GREW,
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
from contract.scenario import JOIN_TIMEOUT_S, Scenario
from loadtests import scenario_files
from loadtests.users import user_class_name
from servers.lambda_ws.cpu_model import sweep_stale
from tbench.confine import ConfinementError, CpuQuota
from tbench.lambda_tune import read_cpu_model
from tbench.process import TargetStartError
from tbench.runner import lambda_target, metadata
from tbench.runner.capacity import read_capacity
from tbench.runner.cluster_target import (
    ClusterTarget,
    replicable,
    server_pids_of,
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
    resume_covers_s,
)
from tbench.runner.live import LiveDisplay
from tbench.runner.liveness import LivenessWatch
from tbench.runner.locust_process import LocustPlan, LocustRun
from tbench.runner.memory import memory_metrics, soak_of
from tbench.runner.netns import EmulatedLink, NetworkSetupError
from tbench.runner.options import RunOptions, check
from tbench.runner.overload import Knee, KneeError, knee_of, read_overload, server_args
from tbench.runner.resources import ResourceSampler, ResourceSeries, summarize
from tbench.runner.summarize import derived_metrics, flags_for, loadgen_metrics
from tbench.runner.targets import (
    GivenTarget,
    Namespaced,
    StartedTarget,
    TargetHandle,
)
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


@dataclass(frozen=True)
class Measurement:
    """One entry of the run: a target, under a network profile or on loopback."""

    key: str  # run.json's key: the target's name, `name@profile` under --network
    spec: TargetSpec
    network: NetworkProfile | None


@dataclass
class Trial:
    """One measurement under way: its entry, its result, its directory, its link if any."""

    item: Measurement
    result: TargetResult
    target_dir: Path
    live: LiveDisplay
    link: EmulatedLink | None = None
    quota: CpuQuota | None = None  # the server's CPU quota under a capacity ramp
    knee: Knee | None = None  # an overload's knee, read before the server starts

    @property
    def key(self) -> str:
        """run.json's key of this measurement."""
        return self.item.key

    @property
    def spec(self) -> TargetSpec:
        """The target measured."""
        return self.item.spec


@dataclass(frozen=True)
class Drive:
    """What runs during a trial's load: the target, Locust, and what watches them."""

    handle: TargetHandle
    plan: LocustPlan
    locust: LocustRun
    sampler: ResourceSampler
    injector: FaultInjector
    watch: LivenessWatch


def locust_scenario_ref(ref: str) -> str:
    """A shipped scenario by name; any other file by absolute path (workers resolve it too)."""
    path = scenario_files.scenario_path(ref)
    if path.resolve().parent == scenario_files.SCENARIO_DIR:
        return path.stem
    return str(path.resolve())


def measurements(options: RunOptions) -> list[Measurement]:
    """Each target under each --network profile, or each target on loopback."""
    return [
        Measurement(f"{spec.name}@{profile.name}", spec, profile)
        for profile in options.network.profiles
        for spec in options.targets
    ] or [Measurement(spec.name, spec, None) for spec in options.targets]


def _docker_client(docker_stats: bool) -> tuple[DockerClientLike, str | None] | None:
    """The Docker engine's client and compose project for --docker-stats; ValueError if it
    cannot be reached."""
    if not docker_stats:
        return None
    try:
        return connect()
    except DockerStatsError as exc:
        raise ValueError(str(exc)) from None


class ComparisonRun:
    """One `tbench run`: its directory, its run.json, its targets one after another."""

    def __init__(self, options: RunOptions, console: Console) -> None:
        checked = check(options)  # every rule first: nothing is reached or started before
        self.options = options
        self.console = console
        self.given_urls = checked.given_urls
        self.replication = checked.replication
        self.scenario: Scenario = checked.scenario
        self.docker = _docker_client(options.given.docker_stats)
        self.measurements = measurements(options)
        self.scenario_ref = locust_scenario_ref(options.scenario_ref)
        self.run_id = options.run_id or metadata.new_run_id()
        self.run_dir = options.out_root / self.run_id
        self.run_tag = f"r{secrets.token_hex(3)}"
        self.run = self._new_result()

    def _new_result(self) -> RunResult:
        """run.json as it starts: the machine, the code, the scenario, every target pending."""
        options, load = self.options, self.options.load
        commit, dirty = metadata.git_state()
        return RunResult(
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
                workers=load.workers,
                remote_workers=load.remote_workers,
                mode="distributed" if load.workers + load.remote_workers else "local",
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
        self, spec: TargetSpec, target_dir: Path, link: EmulatedLink | None, knee: Knee | None
    ) -> TargetHandle:
        faults, overload = self.scenario.faults, self.scenario.overload
        admin = (ADMIN_OPTION,) if faults is not None and "drop" in faults.kinds else ()
        cpu = spec.cpu_model_args(self.options.start.cpu_model)
        if overload is not None and knee is not None:
            cpu = (*cpu, *server_args(spec, overload, knee))
        if link is not None:  # in the server's namespace, on the shaped path's address
            return StartedTarget(
                spec,
                target_dir / "server.log",
                link.addresses.server,
                (*admin, *cpu),
                Namespaced(launcher=link.launcher(link.server_ns), port=NETWORK_SERVER_PORT),
            )
        if spec.name in self.given_urls:
            # --server-pid comes only with --url, which measures exactly this one target
            return GivenTarget(spec, self.given_urls[spec.name], self.options.given.server_pid)
        if self.replication.clustered and replicable(spec) is None:
            return ClusterTarget(spec, target_dir, self.replication, self.options.start.host)
        host = self.options.start.host
        return StartedTarget(spec, target_dir / "server.log", host, (*admin, *cpu))

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
        trial = Trial(item, result, self.run_dir / key, live)
        trial.target_dir.mkdir(parents=True, exist_ok=True)
        result.started_at = metadata.now_iso()
        try:
            if verdict is not None:
                result.verification = verdict.to_record()
                if not verdict.passed:
                    raise TargetFailed("failed verification: " + "; ".join(verdict.failures[:5]))
            live.update(key, phase="waiting")
            with contextlib.ExitStack() as stack:
                if item.network is not None:
                    live.update(key, phase="network")
                    trial.link = EmulatedLink(item.network, index, self.options.network.mechanism)
                    stack.enter_context(trial.link)
                self._load(trial)
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
            result.files = self._files(trial.target_dir)

    def _load(self, trial: Trial) -> None:
        """Start the target, drive Locust at it while sampling, stop, summarise, tune."""
        handle = self._start(trial)
        drive = self._prepare(trial, handle)
        cpu_state: CpuModel | None = None
        try:
            self._begin(drive)
            self._follow(trial, drive)
            if self._emulated(trial.spec, handle):
                cpu_state = read_cpu_model(handle.url)  # the emulator's (not a real stage's)
        finally:
            series = self._stop(trial, drive)
        loadgen = self._loadgen(trial, drive.locust)
        self._summarise(trial, drive, loadgen, series)
        lambda_target.record(trial.result, cpu_state)
        self._tune(trial, handle)

    def _emulated(self, spec: TargetSpec, handle: TargetHandle) -> bool:
        """The lambda target on the local emulator (not a stage on AWS, given or deployed)."""
        deployed = self.options.given.deployment is not None and isinstance(handle, GivenTarget)
        return (
            lambda_target.has_cpu_model(spec)
            and not handle.url.startswith("wss://")
            and not deployed
        )

    def _start(self, trial: Trial) -> TargetHandle:
        """The target started (or reached), and its link's RTT measured under --network."""
        link, result = trial.link, trial.result
        overload = self.scenario.overload
        if overload is not None:
            try:
                trial.knee = knee_of(trial.spec, overload, self.options.out_root)
            except KneeError as exc:
                raise TargetFailed(str(exc)) from None
        handle = self._handle(trial.spec, trial.target_dir, link, trial.knee)
        trial.live.update(trial.key, phase="starting")
        try:
            handle.start()
        except TargetStartError as exc:
            raise TargetFailed(f"did not start: {exc}") from None
        if link is not None:
            result.network = link.describe().with_rtt(link.measure_rtt(NETWORK_SERVER_PORT))
        self._confine(trial, handle)
        return handle

    def _confine(self, trial: Trial, handle: TargetHandle) -> None:
        """Under a capacity ramp or an overload, hold the server to the scenario's CPU quota (a
        Fargate task); the lambda target's environments have Lambda's CPU model instead."""
        sweep, overload = self.scenario.sweep, self.scenario.overload
        if overload is not None:
            if not overload.cpu_quota_vcpu or lambda_target.has_cpu_model(trial.spec):
                return
            quota_vcpu = overload.cpu_quota_vcpu
        elif sweep is not None and sweep.cpu_quota_vcpu is not None:
            quota_vcpu = sweep.cpu_quota_vcpu
        else:
            return
        pid = handle.server_pid
        if lambda_target.has_cpu_model(trial.spec) or pid is None:
            handle.stop()
            raise TargetFailed(
                "a capacity ramp confines a container target's server process on this machine; "
                f"{trial.spec.name} has none to confine (the lambda target has Lambda's CPU model)"
            )
        try:
            trial.quota = CpuQuota(quota_vcpu, trial.key).__enter__()
            trial.quota.add(pid)
        except ConfinementError as exc:
            handle.stop()
            raise TargetFailed(f"cannot confine the server: {exc}") from None

    def _prepare(self, trial: Trial, handle: TargetHandle) -> Drive:
        """Locust's plan against the started target, and the watchers beside it (not started)."""
        link, spec, target_dir = trial.link, trial.spec, trial.target_dir
        plan = LocustPlan(
            user_class=user_class_name(spec),
            url=handle.url,
            scenario_ref=self.scenario_ref,
            users=self._first_users(trial),
            spawn_rate=self.scenario.spawn_rate,
            out_dir=target_dir,
            run_tag=self.run_tag,
            run_time_s=self.scenario.expected_run_s() * RUN_TIME_STRETCH + RUN_TIME_SLACK_S,
            workers=self.options.load.workers,
            remote_workers=self.options.load.remote_workers,
            master_port=self.options.load.master_port,
            faults_json=self.scenario.faults.model_dump_json() if self.scenario.faults else "",
            knee_users=trial.knee.users if trial.knee is not None else 0,
            launcher=link.launcher(link.client_ns) if link is not None else (),
        )
        trial.result.url = handle.url
        locust = LocustRun(plan)
        sampler = self._sampler(spec, handle, lambda: locust.pids)
        return Drive(
            handle, plan, locust, sampler, FaultInjector(handle), LivenessWatch(handle.url)
        )

    def _first_users(self, trial: Trial) -> int:
        """Users spawned before publishing starts: an overload's knee, else the scenario's."""
        if trial.knee is None:
            return self.scenario.users
        per_room = self.scenario.users_per_room
        return -(-trial.knee.users // per_room) * per_room

    def _begin(self, drive: Drive) -> None:
        """Sampling, the liveness watch, then Locust."""
        drive.sampler.start()
        drive.watch.start()
        drive.locust.start()
        remote_workers = self.options.load.remote_workers
        if remote_workers:
            self.console.print(
                f"waiting for {remote_workers} remote worker(s): on each run "
                f"`locust -f loadtests/locustfile.py --worker --master-host <this host> "
                f"--master-port {drive.locust.master_port}`"
            )

    def _stop(self, trial: Trial, drive: Drive) -> ResourceSeries:
        """Stop everything `_prepare` made, and the target; the resources sampled meanwhile."""
        link, result, handle = trial.link, trial.result, drive.handle
        drive.watch.stop()
        drive.locust.stop()
        series = drive.sampler.stop(trial.target_dir / "resources.csv", drive.watch.retained)
        if link is not None and result.network is not None:
            result.network = result.network.with_retransmissions(link.tcp_retransmissions())
        handle.stop()
        if trial.quota is not None:
            trial.quota.close()
        if lambda_target.has_cpu_model(trial.spec) and isinstance(handle, StartedTarget):
            sweep_stale()  # the groups of an emulator killed before its cleanup
        return series

    def _loadgen(self, trial: Trial, locust: LocustRun) -> LoadgenResult:
        """What the load generator wrote; TargetFailed if it wrote nothing."""
        loadgen_path = trial.target_dir / LOADGEN_FILE
        if not loadgen_path.exists():
            raise TargetFailed(
                f"Locust ended without results (exit code {locust.poll()}):\n{locust.log_tail()}"
            )
        return LoadgenResult.read(loadgen_path)

    def _summarise(
        self, trial: Trial, drive: Drive, loadgen: LoadgenResult, series: ResourceSeries
    ) -> None:
        """The trial's metrics and flags, its relay's cost, its faults and its deployment."""
        link, result = trial.link, trial.result
        metrics = loadgen_metrics(loadgen)
        start, end = loadgen.measured_window()
        metrics |= summarize(series, start, end)
        metrics |= memory_metrics(series.rows, end)
        metrics |= derived_metrics(metrics)
        result.metrics = metrics
        result.sweep = loadgen.sweep
        sweep = self.scenario.sweep
        if sweep is not None and sweep.cpu_quota_vcpu is not None:
            result.capacity = read_capacity(sweep, loadgen.sweep, series)
        result.flags = flags_for(metrics)
        if self.scenario.soak is not None:
            result.soak = soak_of(self.scenario.soak, series.rows, start, end)
            if result.soak is not None:
                metrics["soak_rss_growth_percent"] = result.soak.growth_percent
                if not result.soak.passed:
                    result.flags.append(FLAG_SOAK_GREW)
        if self.scenario.overload is not None and trial.knee is not None:
            result.overload = read_overload(
                self.scenario.overload,
                trial.knee,
                loadgen,
                series,
                resumable=trial.spec.supports_resume,
                latency_floor_ms=loadgen.latency_floor_ms,
                cpu_quota_vcpu=trial.quota.vcpu if trial.quota is not None else None,
                memory_judged=not lambda_target.has_cpu_model(trial.spec),
            )
            result.flags += result.overload.flags
        if link is not None and result.network is not None:
            link.stop()  # the relay's counters are final once it has stopped
            if link.relay_counters is not None:
                result.network = result.network.with_relay(
                    link.relay_counters, metrics.get("delivered")
                )
        if self.scenario.faults is not None:
            self._record_faults(trial, drive, loadgen, series)
        self._record_deployment(trial, drive, loadgen, metrics)

    def _record_faults(
        self, trial: Trial, drive: Drive, loadgen: LoadgenResult, series: ResourceSeries
    ) -> None:
        """What each injected fault did to delivery, and the flag that says faults were on."""
        assert self.scenario.faults is not None
        result, spec, injector = trial.result, trial.spec, drive.injector
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

    def _record_deployment(
        self,
        trial: Trial,
        drive: Drive,
        loadgen: LoadgenResult,
        metrics: dict[str, float | int | None],
    ) -> None:
        """How the target was deployed, when it was not one process started here."""
        result, spec, handle, sampler = trial.result, trial.spec, drive.handle, drive.sampler
        given = self.options.given.deployment
        if given is not None and isinstance(handle, GivenTarget):
            result.deployment = given.model_copy(deep=True)
        elif isinstance(handle, ClusterTarget):
            result.deployment = handle.deployment(*loadgen.measured_window(), metrics)
        elif self.replication.clustered:
            result.deployment = Deployment(replicas=1, note=replicable(spec))
        elif isinstance(sampler, DockerStatsSampler):
            result.deployment = Deployment(runtime="docker", containers=sampler.server_containers)

    def _tune(self, trial: Trial, handle: TargetHandle) -> None:
        """The Lambda emulator started here: a short memory tune after its load."""
        spec = trial.spec
        if lambda_target.has_cpu_model(spec) and isinstance(handle, StartedTarget):
            trial.live.update(spec.name, phase="tuning memory")
            error = lambda_target.short_tune(
                trial.result, trial.target_dir, self.options.start.cpu_model
            )
            if error is not None:
                self.console.print(f"[yellow]{spec.name}: no memory tune: {error}[/]")

    def _follow(self, trial: Trial, drive: Drive) -> None:
        """Watch Locust to its end: live status, faults on schedule, a dead or hung server."""
        key, live, handle, locust, plan = (
            trial.key,
            trial.live,
            drive.handle,
            drive.locust,
            drive.plan,
        )
        deadline = time.monotonic() + plan.run_time_s + DEADLINE_SLACK_S
        status_path = plan.out_dir / STATUS_FILE
        live.update(key, phase="spawning")
        while locust.poll() is None:
            if time.monotonic() > deadline:
                raise TargetFailed(f"Locust did not finish within {plan.run_time_s:.0f} s")
            status = LiveStatus.read(status_path)  # once per round: live row and fault schedule
            for slot, injection in drive.injector.poll(status.faults if status is not None else []):
                note = injection.error or f"{slot.kind} injected"
                live.update(key, phase=f"fault: {slot.kind}", note=note[:80])
            if (isinstance(handle, StartedTarget) and not handle.process.alive()) or (
                isinstance(handle, ClusterTarget) and not handle.alive()
            ):
                raise TargetFailed(f"the server exited during the run:\n{handle.failure_detail()}")
            self._check_alive(drive.watch)
            live.follow_status(key, status)
            time.sleep(POLL_INTERVAL_S)
        live.follow_status(key, LiveStatus.read(status_path))

    def _check_alive(self, watch: LivenessWatch) -> None:
        """TargetFailed if the server answered no /healthz probe for --hang-timeout-s."""
        if watch.silent_for() > self.options.hang_timeout_s:
            raise TargetFailed(
                f"the server hung: no answer on {watch.url} for {watch.silent_for():.0f} s "
                f"(--hang-timeout-s {self.options.hang_timeout_s:g})"
            )

    def _files(self, target_dir: Path) -> dict[str, str]:
        return files_of(self.run_dir, target_dir)


def files_of(run_dir: Path, target_dir: Path) -> dict[str, str]:
    """A target's files for run.json: path in its directory -> path in the run's."""
    files = {}
    for path in sorted(target_dir.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            files[str(path.relative_to(target_dir))] = str(path.relative_to(run_dir))
    return files
