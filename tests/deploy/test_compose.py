"""docker-compose.yml (+ docker-compose.scale.yml): valid, and consistent with the registry."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from contract.registry import ASGI_LAUNCHER, TARGETS
from servers.lambda_ws.dynamodb_local import DYNALITE_SERVE
from tbench.nginx_config import BalancerConfig
from tbench.runner.docker_stats import LOADGEN_LABEL, TARGET_LABEL

from .compose_files import COMPOSE, ROOT, SCALE, host_port, option, services, target_urls

BASE = services(COMPOSE)
OVERRIDE = services(SCALE)
SCALED = [name for name, spec in TARGETS.items() if spec.launcher == ASGI_LAUNCHER]
LIMITS = ("cpus", "mem_limit", "ulimits")


def docker_compose() -> str:
    """The docker-compose binary; `make install` installs it, elsewhere it may lack."""
    found = shutil.which("docker-compose")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is not installed, and CI must validate the compose files")
        pytest.skip("docker-compose is not installed here")
    return found


@pytest.mark.parametrize("files", [[COMPOSE], [COMPOSE, SCALE]], ids=["base", "scale"])
def test_docker_compose_accepts_the_files(files):
    argv = [docker_compose()]
    for path in files:
        argv += ["-f", str(path)]
    done = subprocess.run(
        [*argv, "config", "-q"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_every_registered_target_has_a_service_running_its_server():
    for name, spec in TARGETS.items():
        command = BASE[name]["command"]
        assert command[:4] == ["python", "-m", spec.launcher, spec.app], name
        assert option(command, "--host") == "0.0.0.0"  # reachable from the other containers
        assert BASE[name]["labels"][TARGET_LABEL] == name  # what the runner samples


def test_every_target_has_the_same_limits_and_a_health_check():
    first = BASE[next(iter(TARGETS))]
    assert all(first.get(key) for key in LIMITS)
    assert first["ulimits"]["nofile"] == {"soft": "65536", "hard": "65536"}  # TBENCH_NOFILE
    for name in TARGETS:
        service = BASE[name]
        assert {key: service.get(key) for key in LIMITS} == {key: first[key] for key in LIMITS}
        check = " ".join(service["healthcheck"]["test"])
        port = option(service["command"], "--port")
        assert f"http://127.0.0.1:{port}/healthz" in check, name


def test_the_runner_reaches_every_target_by_service_name_and_port():
    runner = BASE["runner"]
    urls = target_urls(runner)
    assert set(urls) == set(TARGETS)
    for name, url in urls.items():
        spec = TARGETS[name]
        host, port = host_port(url)
        assert host == name
        assert port == int(option(BASE[name]["command"], "--port"))
        assert url == spec.url(host, port)  # scheme and path as the registry says
        assert runner["depends_on"][name] == {"condition": "service_healthy"}


def test_the_runner_runs_tbench_in_compose_mode():
    runner = BASE["runner"]
    command = runner["command"]
    assert command[:2] == ["tbench", "run"]
    assert "--docker-stats" in command
    assert option(command, "--out") == "results"
    assert "./results:/app/results" in runner["volumes"]
    sockets = [volume for volume in runner["volumes"] if "docker.sock" in volume]
    assert sockets == ["/var/run/docker.sock:/var/run/docker.sock:ro"]


def test_locust_workers_join_the_runner_as_its_remote_workers():
    runner, worker = BASE["runner"], BASE["locust-worker"]
    environment = worker["environment"]
    assert environment["LOCUST_MASTER_NODE_HOST"] == "runner"
    assert environment["LOCUST_MASTER_NODE_PORT"] == option(runner["command"], "--master-port")
    assert "--worker" in " ".join(worker["command"])
    assert worker["deploy"]["replicas"] == option(runner["command"], "--remote-workers")
    assert worker["labels"][LOADGEN_LABEL] == "true"


def test_the_web_ui_master_is_a_profile_on_port_8089():
    master = BASE["locust-master"]
    assert master["profiles"] == ["webui"]
    assert "8089:8089" in master["ports"]
    assert "--master" in master["command"]
    assert option(master["command"], "--master-bind-port") == "5557"
    assert "profiles" not in BASE["locust-worker"]  # the same workers serve either master


def test_the_lambda_target_uses_the_dynamodb_service():
    lambda_target, dynamodb = BASE["lambda"], BASE["dynamodb"]
    host, port = host_port(lambda_target["environment"]["AWS_ENDPOINT_URL_DYNAMODB"])
    assert host == "dynamodb"
    # dynalite, as the emulator starts it locally: serve.js HOST PORT, on every interface
    assert dynamodb["command"] == [
        "node",
        str(DYNALITE_SERVE.relative_to(ROOT)),
        "0.0.0.0",
        str(port),
    ]
    assert lambda_target["depends_on"]["dynamodb"] == {"condition": "service_healthy"}
    assert f"127.0.0.1:{port}/" in " ".join(dynamodb["healthcheck"]["test"])
    assert dynamodb["labels"][TARGET_LABEL] == "lambda"  # its CPU counts, as its child's locally


def scaled(name: str) -> dict[str, Any]:
    """A service as the two files merge it (keys of the override replace the base's)."""
    return {**BASE.get(name, {}), **OVERRIDE[name]}


def test_every_file_limit_is_tbench_nofile_defaulting_to_65536():
    for path in (COMPOSE, SCALE):
        raw = yaml.safe_load(path.read_text())
        limits = [
            service["ulimits"]["nofile"]
            for service in [*raw["services"].values(), *(raw[k] for k in raw if k.startswith("x-"))]
            if "ulimits" in service
        ]
        assert limits, path
        for nofile in limits:
            assert nofile == {"soft": "${TBENCH_NOFILE:-65536}", "hard": "${TBENCH_NOFILE:-65536}"}


def test_docker_compose_sets_every_file_limit_from_tbench_nofile():
    # a host whose hard limit is below 65536 (error setting rlimit type 7) sets a lower one
    done = subprocess.run(
        [docker_compose(), "-f", str(COMPOSE), "-f", str(SCALE), "--profile", "webui", "config"],
        cwd=ROOT,
        env={**os.environ, "TBENCH_NOFILE": "20000"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    merged = yaml.safe_load(done.stdout)["services"]
    limited = {name: s["ulimits"]["nofile"] for name, s in merged.items() if "ulimits" in s}
    helpers = [f"{name}-{part}" for name in SCALED for part in ("redis", "balancer")]
    for name in [*TARGETS, *helpers, "runner", "locust-worker", "locust-master"]:
        assert limited[name] == {"soft": 20000, "hard": 20000}, name


@pytest.mark.parametrize("name", SCALED)
def test_scale_runs_replicas_on_redis_behind_nginx(name: str):
    service = scaled(name)
    assert int(service["deploy"]["replicas"]) > 1
    redis = f"{name}-redis"
    base_command = BASE[name]["command"]
    assert service["command"] == [*base_command, "--broker", f"redis://{redis}:6379"]
    assert service["depends_on"][redis] == {"condition": "service_healthy"}
    assert OVERRIDE[redis]["labels"][TARGET_LABEL] == name
    balancer = OVERRIDE[f"{name}-balancer"]
    assert balancer["labels"][TARGET_LABEL] == name
    assert balancer["depends_on"][name] == {"condition": "service_healthy"}
    assert {key: balancer[key] for key in LIMITS} == {key: BASE[name][key] for key in LIMITS}


@pytest.mark.parametrize("name", SCALED)
def test_scale_nginx_config_is_the_generators_output(name: str):
    balancer = OVERRIDE[f"{name}-balancer"]
    (mount,) = balancer["volumes"]
    source, target, mode = mount.split(":")
    assert (target, mode) == ("/etc/nginx/nginx.conf", "ro")
    port = option(BASE[name]["command"], "--port")
    expected = BalancerConfig((f"{name}:{port}",), "8080", "/tmp").render()
    assert (ROOT / source).read_text() == expected, "run `make compose-nginx`"


def test_scale_points_the_runner_at_the_balancers():
    runner = scaled("runner")
    urls = target_urls(runner)
    assert set(urls) == set(TARGETS)
    for name, url in urls.items():
        host, port = host_port(url)
        if name in SCALED:
            assert host == f"{name}-balancer"
            assert port == 8080
            assert runner["depends_on"][host] == {"condition": "service_healthy"}
        else:  # the Lambda target scales on its own: reached as in the base file
            assert url == target_urls(BASE["runner"])[name]
        assert url == TARGETS[name].url(host, port)
