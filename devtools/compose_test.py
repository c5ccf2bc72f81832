"""`make compose-test`: build the image and run the comparison in containers, end to end.

An engine (devtools.docker_engine), a base (devtools.docker_base), the image, then the
compose-smoke scenario through docker-compose.yml and, at the same time, through
docker-compose.scale.yml, each asserted on the run it leaves in results/
(devtools.compose_checks) and taken down with its volumes.
Container traffic stays on each compose project's own network.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from conformance.checks.slow_consumer import (
    IN_FLIGHT_BYTES,
    messages_needed,
    proxy_in_flight_bytes,
)
from conformance.runner import VERIFY_HISTORY_SIZE, VERIFY_QUEUE_SIZE, VERIFY_SSE_PING_S
from contract.registry import ASGI_LAUNCHER, TARGETS
from devtools.compose_checks import failures, summary
from devtools.docker_base import ROOT, base_image, has_image, pull
from devtools.docker_engine import Engine, EngineUnavailable, docker_engine, why_no_engine
from devtools.docker_image_cache import image_cache
from servers.lambda_ws.dynamodb_local import DYNALITE_DIR

IMAGE = "transport-bench:local"  # docker-compose.yml's `image:`
# The Dockerfile's npm stage, tagged so that the next run's build finds it in the saved set
# (the classic builder's --cache-from matches only the layers of the images it names).
DYNALITE_STAGE = "transport-bench-dynalite:local"
SERVICES_IMAGE = "transport-bench-services:local"  # Redis and nginx from Debian's packages
SERVICES_DOCKERFILE = ROOT / "compose" / "services.Dockerfile"
# what the saved images' dependency layers are made from (devtools.docker_image_cache)
CACHE_INPUTS = (
    ROOT / "Dockerfile",
    ROOT / "requirements.lock",
    SERVICES_DOCKERFILE,
    DYNALITE_DIR / "package-lock.json",  # the dynalite stage's npm ci
)
COMPOSE_FILE = ROOT / "docker-compose.yml"
SCALE_FILE = ROOT / "docker-compose.scale.yml"
RESULTS = ROOT / "results"
# smoke's paths, measured after the lambda target's cold starts (the scenario file says why)
SCENARIO = "compose-smoke"
WORKERS = 2
REPLICAS = 2
NOFILE_WANTED = 65536  # docker-compose.yml's default TBENCH_NOFILE
BUILD_TIMEOUT_S = 1800.0
UP_TIMEOUT_S = 900.0
DOWN_TIMEOUT_S = 180.0
LAMBDA_CONTAINERS = 2  # the emulator and its DynamoDB


class ComposeTestError(RuntimeError):
    """A step of the compose test failed; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Deployment:
    """One compose deployment to run: its files, its settings, the targets it measures and
    the containers sampled per target."""

    name: str
    files: tuple[Path, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    targets: tuple[str, ...] = tuple(TARGETS)
    containers: Mapping[str, int] = field(default_factory=dict)  # default 1 per target


def deployments() -> list[Deployment]:
    """The base deployment and the scaled one (replicas on Redis behind nginx). The scaled one
    measures only the targets it scales: the lambda target is the same in both files."""
    scaled = tuple(name for name, spec in TARGETS.items() if spec.launcher == ASGI_LAUNCHER)
    return [
        Deployment("compose", (COMPOSE_FILE,), containers={"lambda": LAMBDA_CONTAINERS}),
        Deployment(
            "scale",
            (COMPOSE_FILE, SCALE_FILE),
            env={"REPLICAS": str(REPLICAS), "TBENCH_TARGETS": ",".join(scaled)},
            targets=scaled,
            containers={name: REPLICAS + 2 for name in scaled},  # replicas, Redis, nginx
        ),
    ]


def history_size() -> int:
    """The containers' history: verify's, or more where the slow-consumer check publishes
    more. Behind nginx its second reader stalls for the queue and every socket buffer on the
    way (1,536 messages at queue 64 on a kernel with 6 + 4 MiB buffers), then resumes from
    its cursor, and every message it missed must still be kept."""
    in_flight = IN_FLIGHT_BYTES + proxy_in_flight_bytes()
    return max(VERIFY_HISTORY_SIZE, messages_needed(VERIFY_QUEUE_SIZE, in_flight))


def invoking_uid() -> int:
    """The user who ran the test (under sudo: the one who ran sudo)."""
    sudo_uid = os.environ.get("SUDO_UID")
    return int(sudo_uid) if os.geteuid() == 0 and sudo_uid else os.getuid()


def nofile_limit() -> int:
    """Containers' file limit: docker-compose.yml's default, or this host's hard limit if lower
    (a container cannot be given more than its engine's: `error setting rlimit type 7`)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return NOFILE_WANTED if hard == resource.RLIM_INFINITY else min(NOFILE_WANTED, hard)


def scale_images(scale_file: Path = SCALE_FILE) -> dict[str, str]:
    """The images docker-compose.scale.yml defaults to, by their variable."""
    pattern = r"\$\{(TBENCH_[A-Z]+_IMAGE):-([^}]+)\}"
    return dict(re.findall(pattern, scale_file.read_text()))


def compose_argv() -> list[str]:
    """docker-compose (v1, --compatibility applies deploy.replicas) or `docker compose`."""
    if shutil.which("docker-compose"):
        return ["docker-compose", "--compatibility"]
    return ["docker", "compose", "--compatibility"]


def run_logged(argv: list[str], env: Mapping[str, str], log: Path, timeout_s: float) -> None:
    """Run a command with its output in `log`; fail with the log's end."""
    with log.open("ab") as out:
        out.write(f"\n$ {' '.join(argv)}\n".encode())
        out.flush()
        try:
            done = subprocess.run(
                argv, env=dict(env), stdout=out, stderr=subprocess.STDOUT, timeout=timeout_s
            )
        except subprocess.TimeoutExpired:
            raise ComposeTestError(f"{argv[:3]} took over {timeout_s:.0f} s (log {log})") from None
    if done.returncode != 0:
        raise ComposeTestError(f"{' '.join(argv[:4])} ... exited {done.returncode}:\n{tail(log)}")


def tail(log: Path) -> str:
    """The end of a log, for an error message."""
    return log.read_bytes()[-4000:].decode(errors="replace")


class Steps:
    """Timed steps, printed as they end (the summary's timings)."""

    def __init__(self) -> None:
        self.times: list[tuple[str, float]] = []

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time one step and print it."""
        print(f"compose-test: {name} ...", flush=True)
        started = time.monotonic()
        yield
        self.record(name, started)

    def record(self, name: str, started: float) -> None:
        """Record and print a step that began at `started` (time.monotonic) and ends now."""
        self.times.append((name, time.monotonic() - started))
        print(f"compose-test: {name}: {self.times[-1][1]:.0f} s", flush=True)


class ComposeTest:
    """The whole check on one engine."""

    def __init__(self, engine: Engine, log_dir: Path) -> None:
        self.engine = engine
        self.env = engine.env()
        self.log_dir = log_dir
        self.steps = Steps()
        self.services_env: dict[str, str] = {}

    def images(self) -> str:
        """Base, image and the scale file's Redis and nginx; returns the base's note."""
        with self.steps.step("base image"):
            base = base_image(self.env)
        cache = image_cache(base.image, CACHE_INPUTS)
        with self.steps.step("load images saved by the last run"):
            loaded = cache.load(self.env)
        log = self.log_dir / "build.log"
        build = ["docker", "build", "--network", "host", "--build-arg", f"BASE_IMAGE={base.image}"]
        with self.steps.step(f"build {IMAGE}"):
            cached = ["--cache-from", DYNALITE_STAGE]
            stage = [*build, *cached, "--target", "dynalite", "-t", DYNALITE_STAGE, str(ROOT)]
            run_logged(stage, self.env, log, BUILD_TIMEOUT_S)
            argv = [*build, *cached, "--cache-from", IMAGE, "-t", IMAGE, str(ROOT)]
            run_logged(argv, self.env, log, BUILD_TIMEOUT_S)
        images = [base.image, DYNALITE_STAGE, IMAGE]
        with self.steps.step("Redis and nginx images"):
            wanted = scale_images()
            if base.pulled and all(pull(image, self.env) is None for image in wanted.values()):
                images += wanted.values()
            else:
                if not has_image(SERVICES_IMAGE, self.env):
                    dockerfile = ["-f", str(SERVICES_DOCKERFILE), str(SERVICES_DOCKERFILE.parent)]
                    argv = [*build, "-t", SERVICES_IMAGE, *dockerfile]
                    run_logged(argv, self.env, log, BUILD_TIMEOUT_S)
                self.services_env = {variable: SERVICES_IMAGE for variable in wanted}
                images.append(SERVICES_IMAGE)
        if not loaded:
            with self.steps.step("save images for the next run"):
                cache.save(images, self.env)
        return base.note

    def compose_env(self, deployment: Deployment, run_id: str) -> dict[str, str]:
        """The variables docker-compose.yml reads, for the test run of `deployment`."""
        return {
            **self.env,
            **self.services_env,
            "TBENCH_SCENARIO": SCENARIO,
            "TBENCH_TARGETS": "all",
            "TBENCH_RUN_ID": run_id,
            "LOCUST_WORKERS": str(WORKERS),
            "TBENCH_UID": str(invoking_uid()),
            "DOCKER_GID": str(self.engine.socket.stat().st_gid),
            "DOCKER_SOCKET": str(self.engine.socket),
            "TBENCH_NOFILE": str(nofile_limit()),
            # verify's own queue and keep-alive, and a history to match: the servers say them
            # on /healthz, and the runner's checks, sized by them, take seconds, not minutes
            "TBENCH_HISTORY_SIZE": str(history_size()),
            "TBENCH_QUEUE_SIZE": str(VERIFY_QUEUE_SIZE),
            "TBENCH_SSE_PING_S": str(VERIFY_SSE_PING_S),
            **deployment.env,
        }

    def run_all(self, wanted: list[Deployment]) -> list[tuple[Path, list[str]]]:
        """Every deployment up at once with SCENARIO (each its own compose project, network and
        run), then down with volumes; the run each left and its problems."""
        ups = [Up(self, deployment) for deployment in wanted]
        try:
            for up in ups:
                up.start()
            deadline = time.monotonic() + UP_TIMEOUT_S
            while any([up.running() for up in ups]):  # each polled: its end timed when seen
                if time.monotonic() > deadline:
                    raise ComposeTestError(f"up took over {UP_TIMEOUT_S:.0f} s")
                time.sleep(1.0)
        finally:
            for up in ups:
                up.down()
        return [up.outcome() for up in ups]


class Up:
    """One deployment's `docker-compose up`, run beside the others, and what it left."""

    def __init__(self, check: ComposeTest, deployment: Deployment) -> None:
        self.check = check
        self.deployment = deployment
        # as tbench names runs (sortable by time), with the deployment instead of a random part
        self.run_id = time.strftime(f"%Y%m%dT%H%M%SZ-{deployment.name}", time.gmtime())
        self.argv = [*compose_argv(), "-p", f"tbench-compose-test-{os.getpid()}-{deployment.name}"]
        for path in deployment.files:
            self.argv += ["-f", str(path)]
        self.env = check.compose_env(deployment, self.run_id)
        self.log = check.log_dir / f"{deployment.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.runner_failed: list[str] = []

    def start(self) -> None:
        """`up --exit-code-from runner` in the background, its output in the log."""
        argv = [*self.argv, "up", "--no-build", "--exit-code-from", "runner"]
        with self.log.open("ab") as out:
            out.write(f"\n$ {' '.join(argv)}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(argv, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.started = time.monotonic()
        print(f"compose-test: {self.deployment.name}: up ({SCENARIO}) ...", flush=True)

    def running(self) -> bool:
        """Whether `up` still runs; when it has just ended, its time and exit are recorded."""
        if self.proc is None or self.proc.returncode is not None:
            return False
        code = self.proc.poll()
        if code is None:
            return True
        self.check.steps.record(f"{self.deployment.name}: up ({SCENARIO})", self.started)
        if code != 0:  # the runner's exit: its run says why
            self.runner_failed.append(f"up exited {code}")
        return False

    def down(self) -> None:
        """Stop `up` if it still runs, then take the deployment down with its volumes."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()
        with self.check.steps.step(f"{self.deployment.name}: down -v"):
            argv = [*self.argv, "down", "-v", "--remove-orphans"]
            run_logged(argv, self.env, self.log, DOWN_TIMEOUT_S)

    def outcome(self) -> tuple[Path, list[str]]:
        """The run it left and its problems, each naming the deployment and its log."""
        run_dir = RESULTS / self.run_id
        if not (run_dir / "run.json").is_file():
            problems = [f"no run in {run_dir}", *self.runner_failed]
        else:
            deployment = self.deployment
            problems = failures(
                run_dir, WORKERS, invoking_uid(), deployment.containers, deployment.targets
            )
            problems += self.runner_failed
            print(f"{deployment.name}: {run_dir}\n{summary(run_dir)}", flush=True)
        return run_dir, [f"{self.deployment.name}: {p} (log {self.log})" for p in problems]


def results_dir() -> Path:
    """results/, owned by the invoking user (not by root or the engine)."""
    RESULTS.mkdir(exist_ok=True)
    uid = invoking_uid()
    if os.geteuid() == 0 and RESULTS.stat().st_uid != uid:
        os.chown(RESULTS, uid, -1)
    return RESULTS


def terminate_as_interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM unwinds like Ctrl-C, so containers and dockerd are still taken down."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the compose test; with --if-engine, skip (exit 0) where no engine can run."""
    parser = argparse.ArgumentParser(prog="python -m devtools.compose_test", description=__doc__)
    parser.add_argument(
        "--if-engine",
        action="store_true",
        help="skip, saying why, when no Docker engine answers and dockerd cannot be started",
    )
    parser.add_argument(
        "--start-when",
        metavar="FILE",
        type=Path,
        help="build the images, then wait until FILE exists before the deployments (`make "
        "test` builds them in the background while the tests run)",
    )
    args = parser.parse_args(argv)
    why = why_no_engine()
    if why is not None:
        print(f"compose-test: SKIPPED: {why}", flush=True)
        return 0 if args.if_engine else 1
    signal.signal(signal.SIGTERM, terminate_as_interrupt)
    started = time.monotonic()
    log_dir = results_dir() / ".compose-test"
    log_dir.mkdir(exist_ok=True)
    runs: list[tuple[Path, list[str]]] = []
    try:
        with docker_engine() as engine:
            where = "dockerd started here" if engine.started_here else "running engine"
            print(f"compose-test: engine {engine.host} ({where})", flush=True)
            check = ComposeTest(engine, log_dir)
            base_note = check.images()
            if args.start_when is not None:
                with check.steps.step(f"wait for {args.start_when}"):
                    while not args.start_when.exists():
                        time.sleep(1.0)
            runs = check.run_all(deployments())
    except (ComposeTestError, EngineUnavailable, AssertionError) as exc:
        print(f"compose-test: FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    problems = [problem for _, found in runs for problem in found]
    verdict = "FAILED" if problems else "passed"
    print(f"compose-test: {verdict} in {time.monotonic() - started:.0f} s; base {base_note}")
    for name, seconds in check.steps.times:
        print(f"  {name:<36} {seconds:6.0f} s")
    for run_dir, _ in runs:
        print(f"  run: {run_dir}")
    for problem in problems:
        print(f"  problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
