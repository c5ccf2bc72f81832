"""`tbench run`'s option rules, checked before anything is reached or started."""

from __future__ import annotations

import os

import psutil
import pytest

from contract.network_profile import parse_network_option
from contract.registry import get_target
from tbench.cluster import Replication
from tbench.runner.options import (
    GivenOptions,
    LoadOptions,
    NetworkOptions,
    RunOptions,
    StartOptions,
    check,
)

SSE = get_target("sse")
WEBSOCKET = get_target("websocket")


def test_given_urls_and_replication_resolved_and_faults_applied():
    checked = check(
        RunOptions(
            targets=[SSE, WEBSOCKET],
            scenario_ref="faults",
            faults=["drop"],
            given=GivenOptions(target_urls=["sse=http://sse:8000"]),
        )
    )
    assert checked.given_urls == {"sse": "http://sse:8000"}
    assert checked.replication == Replication(1, "memory")
    assert checked.scenario.faults is not None
    assert checked.scenario.faults.kinds == ("drop",)


def test_url_names_exactly_one_target():
    options = RunOptions(targets=[SSE], given=GivenOptions(url="http://127.0.0.1:9"))
    assert check(options).given_urls == {"sse": "http://127.0.0.1:9"}
    with pytest.raises(ValueError, match="exactly one target"):
        check(RunOptions(targets=[SSE, WEBSOCKET], given=GivenOptions(url="http://x:1")))


@pytest.mark.parametrize(
    ("given", "start", "message"),
    [
        (GivenOptions(server_pid=os.getpid()), StartOptions(), "given by --url"),
        (
            GivenOptions(url="http://x:1", server_pid=os.getpid(), docker_stats=True),
            StartOptions(),
            "both name what to sample",
        ),
        (GivenOptions(url="http://x:1"), StartOptions(replicas=2), "start them"),
        (GivenOptions(docker_stats=True), StartOptions(), "--target-url targets"),
        (GivenOptions(), StartOptions(replicas=2, broker="memory"), "use the redis broker"),
    ],
)
def test_what_cannot_go_together_is_refused(given, start, message):
    with pytest.raises(ValueError, match=message):
        check(RunOptions(targets=[SSE], given=given, start=start))


def test_network_refuses_given_targets_clusters_and_remote_workers():
    network = NetworkOptions(profiles=parse_network_option("rtt=10ms"))
    with pytest.raises(ValueError, match="own network namespace"):
        check(RunOptions(targets=[SSE], network=network, given=GivenOptions(url="http://x:1")))
    with pytest.raises(ValueError, match="own network namespace"):
        check(RunOptions(targets=[SSE], network=network, start=StartOptions(broker="redis")))
    with pytest.raises(ValueError, match="no --remote-workers"):
        check(RunOptions(targets=[SSE], network=network, load=LoadOptions(remote_workers=1)))


def test_a_server_pid_must_be_running():
    gone = max(psutil.pids()) + 100_000
    options = RunOptions(targets=[SSE], given=GivenOptions(url="http://x:1", server_pid=gone))
    with pytest.raises(ValueError, match="no such process"):
        check(options)


def test_a_restart_needs_a_target_started_here():
    options = RunOptions(
        targets=[SSE],
        scenario_ref="faults",
        faults=["restart"],
        given=GivenOptions(url="http://x:1"),
    )
    with pytest.raises(ValueError, match="sse: --faults restart"):
        check(options)


def test_a_capacity_ramp_refuses_the_lambda_target_and_replicas():
    with pytest.raises(ValueError, match="lambda has Lambda's CPU model"):
        check(RunOptions(targets=[SSE, get_target("lambda")], scenario_ref="capacity"))
    with pytest.raises(ValueError, match="confines one server process: no --replicas"):
        check(RunOptions(targets=[SSE], scenario_ref="capacity", start=StartOptions(replicas=2)))
