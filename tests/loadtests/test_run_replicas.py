"""`tbench run --replicas 2`: targets as replicas on Redis behind nginx, judged from run.json."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from contract.results import TargetStatus, load_run
from tbench.cluster import Replication
from tbench.runner.cluster_target import resolve_deployment

pytestmark = pytest.mark.slow  # starts servers or runs: not in `make test-fast`

COMPONENTS = ["replica-1", "replica-2", "redis", "nginx"]


@pytest.fixture(scope="module")
def replicas_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("results")
    args = ["--scenario", "smoke", "--targets", "long-polling,lambda", "--replicas", "2"]
    args.append("--no-verify")  # verification is tested elsewhere; this is about deployment
    args.append("--no-report")  # so are reports (tests/reports)
    done = subprocess.run(
        [sys.executable, "-m", "tbench.cli", "run", "--out", str(out), "--run-id", "r2", *args],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out / "r2"


def test_replicas_share_rooms_and_deliver_everything(replicas_run: Path):
    result = load_run(replicas_run).targets["long-polling"]
    assert result.status is TargetStatus.OK, result.error
    assert result.metrics["delivered"] == result.metrics["expected"] > 0
    assert result.metrics["lost"] == 0
    assert result.metrics["duplicated"] == 0


def test_deployment_and_every_component_are_recorded(replicas_run: Path):
    result = load_run(replicas_run).targets["long-polling"]
    deployment = result.deployment
    assert deployment is not None
    assert (deployment.replicas, deployment.broker, deployment.balancer) == (2, "redis", "nginx")
    components = deployment.components
    assert components is not None
    assert list(components) == COMPONENTS
    for name, figures in components.items():
        assert (figures.pid or 0) > 0
        assert (figures.server_rss_max_bytes or 0) > 0, name
        assert (replicas_run / "long-polling" / f"resources-{name}.csv").exists()
    # The target's own server_* figures sum every component.
    total_rss = sum(f.server_rss_max_bytes or 0 for f in components.values())
    assert result.metrics["server_rss_max_bytes"] >= 0.5 * total_rss
    # Clients reached the balancer only.
    config = (replicas_run / "long-polling" / "nginx" / "nginx.conf").read_text()
    listen = re.search(r"listen (\S+) ", config)
    assert listen is not None
    assert result.url == f"http://{listen.group(1)}"


def test_a_target_that_cannot_be_replicated_runs_alone_and_says_why(replicas_run: Path):
    result = load_run(replicas_run).targets["lambda"]
    assert result.deployment is not None
    assert result.deployment.replicas == 1
    assert "no room broker" in str(result.deployment.note)


def test_deployment_options_are_checked():
    assert resolve_deployment(1, None) == Replication(1, "memory")
    assert resolve_deployment(3, None) == Replication(3, "redis")
    assert resolve_deployment(1, "redis") == Replication(1, "redis")
    with pytest.raises(ValueError, match="--broker redis"):
        resolve_deployment(2, "memory")
    with pytest.raises(ValueError, match="unknown broker"):
        resolve_deployment(1, "kafka")
