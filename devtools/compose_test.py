"""`make compose-test`: build the image and run the comparison in containers, end to end.

An engine (devtools.docker_engine), a base (devtools.docker_base), the image, then the
compose-smoke scenario through docker-compose.yml and through docker-compose.scale.yml, each
asserted on the run it leaves in results/ (devtools.compose_checks) and taken down with its
volumes.
Container traffic stays on the compose project's own network.
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

from contract.registry import ASGI_LAUNCHER, TARGETS
from devtools.compose_checks import failures, new_run_dir, summary
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
COMPOSE_HISTORY_SIZE = 5_000  # the containers' (default 10,000): see compose_env


class ComposeTestError(RuntimeError):
    """A step of the compose test failed; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Deployment:
    """One compose deployment to run: its files, its settings, the containers per target."""

    name: str
    files: tuple[Path, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    containers: Mapping[str, int] = field(default_factory=dict)  # default 1 per target


def deployments() -> list[Deployment]:
    """The base deployment, then the scaled one (replicas on Redis behind nginx)."""
    scaled = [name for name, spec in TARGETS.items() if spec.launcher == ASGI_LAUNCHER]
    return [
        Deployment("compose", (COMPOSE_FILE,), containers={"lambda": LAMBDA_CONTAINERS}),
        Deployment(
            "scale",
            (COMPOSE_FILE, SCALE_FILE),
            env={"REPLICAS": str(REPLICAS)},
            containers={
                **{name: REPLICAS + 2 for name in scaled},  # replicas, Redis, nginx
                "lambda": LAMBDA_CONTAINERS,
            },
        ),
    ]


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
        tail = log.read_bytes()[-4000:].decode(errors="replace")
        raise ComposeTestError(f"{' '.join(argv[:4])} ... exited {done.returncode}:\n{tail}")


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

    def compose_env(self, deployment: Deployment) -> dict[str, str]:
        """The variables docker-compose.yml reads, for the test run of `deployment`."""
        return {
            **self.env,
            **self.services_env,
            "TBENCH_SCENARIO": SCENARIO,
            "TBENCH_TARGETS": "all",
            "LOCUST_WORKERS": str(WORKERS),
            "TBENCH_UID": str(invoking_uid()),
            "DOCKER_GID": str(self.engine.socket.stat().st_gid),
            "DOCKER_SOCKET": str(self.engine.socket),
            "TBENCH_NOFILE": str(nofile_limit()),
            # history-lost then pushes history past its count in seconds instead of waiting
            # out its 60 s age bound; still above what slow-consumer publishes to a stalled
            # reader that resumes (up to 2,496 behind a proxy, at the 1,024 queue it assumes)
            "TBENCH_HISTORY_SIZE": str(COMPOSE_HISTORY_SIZE),
            **deployment.env,
        }

    def run(self, deployment: Deployment) -> tuple[Path, list[str]]:
        """Up with SCENARIO, down with volumes; the run it left and its problems."""
        project = f"tbench-compose-test-{os.getpid()}"
        argv = [*compose_argv(), "-p", project]
        for path in deployment.files:
            argv += ["-f", str(path)]
        env = self.compose_env(deployment)
        log = self.log_dir / f"{deployment.name}.log"
        before = {path.name for path in RESULTS.iterdir()}
        runner_failed: list[str] = []
        try:
            with self.steps.step(f"{deployment.name}: up ({SCENARIO})"):
                up = ["up", "--no-build", "--exit-code-from", "runner"]
                try:
                    run_logged([*argv, *up], env, log, UP_TIMEOUT_S)
                except ComposeTestError as exc:  # the runner's exit: its run says why
                    runner_failed.append(str(exc).splitlines()[0])
        finally:
            with self.steps.step(f"{deployment.name}: down -v"):
                run_logged([*argv, "down", "-v", "--remove-orphans"], env, log, DOWN_TIMEOUT_S)
        run_dir = new_run_dir(RESULTS, before)
        problems = failures(run_dir, WORKERS, invoking_uid(), deployment.containers)
        print(f"{deployment.name}: {run_dir}\n{summary(run_dir)}", flush=True)
        problems += runner_failed
        return run_dir, [f"{deployment.name}: {problem} (log {log})" for problem in problems]


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
            # both deployments, whatever the first one's outcome: every problem in one go
            runs = [check.run(deployment) for deployment in deployments()]
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
