"""What `make compose-test` asserts on a run, tried on the committed (local) smoke run."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conformance.checks.slow_consumer import IN_FLIGHT_BYTES, messages_needed
from conformance.runner import VERIFY_HISTORY_SIZE, VERIFY_QUEUE_SIZE
from contract.loadgen import DeliveryCounts, LoadCounters, LoadgenResult, WireBytes
from contract.registry import TARGETS
from contract.results import LOADGEN_FILE, load_run
from devtools import compose_test
from devtools.compose_checks import failures, summary
from devtools.compose_test import deployments, history_size, nofile_limit, scale_images
from tests.fixtures import copy_smoke_run

LAMBDA_ONLY = {"lambda": 2}


def loadgen_of(run_dir: Path, processes: int) -> LoadgenResult:
    """A load generator's result with only its process count filled in."""
    return LoadgenResult(
        user_class="ChatUser",
        scenario=load_run(run_dir).scenario,
        processes=processes,
        timeline=None,
        delivery=DeliveryCounts(),
        latency={},
        counters=LoadCounters(),
        wire=WireBytes(),
        window=None,
        clock_skew_samples=0,
    )


def as_compose_run(run_dir: Path, workers: int) -> None:
    """Turn the local smoke run into what a compose run with `workers` leaves."""
    run_file = run_dir / "run.json"
    run = json.loads(run_file.read_text())
    for name, result in run["targets"].items():
        count = LAMBDA_ONLY.get(name, 1)
        result["deployment"] = {"runtime": "docker", "containers": [f"c{i}" for i in range(count)]}
        result["metrics"] |= {"lost": 0, "server_cpu_s": 0.5}  # the fixture's lambda lost some
        loadgen_of(run_dir, processes=workers + 1).write(run_dir / name / LOADGEN_FILE)
    run_file.write_text(json.dumps(run))
    for report in ("report.html", "report.pdf"):
        (run_dir / report).write_text("report")


def test_a_local_run_is_not_taken_for_a_compose_run(tmp_path: Path):
    run_dir = copy_smoke_run(tmp_path / "run")
    problems = failures(run_dir, 2, os.getuid(), LAMBDA_ONLY)
    assert "report.html missing" in problems
    assert "report.pdf missing" in problems
    assert "sse: 0 containers sampled, not 1" in problems
    assert "lambda: 0 containers sampled, not 2" in problems
    assert any(p.startswith("websocket: None Locust processes reported") for p in problems)


def test_a_complete_compose_run_passes_and_each_fault_is_named(tmp_path: Path):
    run_dir = copy_smoke_run(tmp_path / "run")
    as_compose_run(run_dir, workers=2)
    assert failures(run_dir, 2, os.getuid(), LAMBDA_ONLY) == []
    assert failures(run_dir, 3, os.getuid(), LAMBDA_ONLY)[0].endswith(
        "expected the master and 3 workers"
    )
    assert failures(run_dir, 2, os.getuid() + 1, LAMBDA_ONLY) == [
        f"report.html owned by uid {os.getuid()}, not {os.getuid() + 1}",
        f"report.pdf owned by uid {os.getuid()}, not {os.getuid() + 1}",
    ]
    run = json.loads((run_dir / "run.json").read_text())
    run["targets"]["sse"]["metrics"]["lost"] = 1
    run["targets"]["websocket"]["metrics"]["server_cpu_s"] = 0.0
    run["targets"]["lambda"] |= {"status": "failed", "error": "conformance: 2 failed\ncheck A"}
    (run_dir / "run.json").write_text(json.dumps(run))
    assert failures(run_dir, 2, os.getuid(), LAMBDA_ONLY) == [
        f"sse: delivered {run['targets']['sse']['metrics']['delivered']}, lost 1",
        "websocket: container CPU 0.0 s (not sampled)",
        "lambda: status failed: conformance: 2 failed",
    ]
    # the summary CI prints carries the whole error: the run directory stays on the CI machine
    text = summary(run_dir)
    assert text.endswith("\n  lambda error:\n      conformance: 2 failed\n      check A")
    rows = [row.split() for row in text.splitlines()]
    assert " ".join(rows[0]) == "target status delivered lost Locust processes containers CPU s"
    sse = run["targets"]["sse"]["metrics"]
    assert ["sse", "ok", str(sse["delivered"]), "1", "3", "1", f"{sse['server_cpu_s']:.2f}"] in rows
    # the columns line up: each row's status starts where the header's does
    header, *lines = text.splitlines()[: 1 + len(run["targets"])]
    assert {line.index(" ok ") if " ok " in line else line.index(" failed ") for line in lines} == {
        header.index(" status ")
    }


def test_the_scaled_deployment_expects_replicas_redis_and_nginx_per_target():
    base, scale = deployments()
    assert (base.targets, base.containers) == (tuple(TARGETS), {"lambda": 2})
    replicas = int(scale.env["REPLICAS"])
    # the lambda target is the same in both files: measured once, in the base deployment
    assert scale.targets == tuple(name for name in TARGETS if name != "lambda")
    assert scale.env["TBENCH_TARGETS"] == ",".join(scale.targets)
    assert scale.containers == {name: replicas + 2 for name in scale.targets}
    assert set(scale_images()) == {"TBENCH_REDIS_IMAGE", "TBENCH_NGINX_IMAGE"}


def test_the_file_limit_never_exceeds_the_hard_limit(monkeypatch):
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda _: (1024, 20000))
    assert nofile_limit() == 20000
    monkeypatch.setattr(resource, "getrlimit", lambda _: (1024, resource.RLIM_INFINITY))
    assert nofile_limit() == 65536


def test_the_containers_keep_every_message_a_stalled_reader_behind_nginx_resumes_for(
    monkeypatch,
):
    # the slow-consumer check's proxy-sized trial: the queue and every buffer on the way
    monkeypatch.setattr(compose_test, "proxy_in_flight_bytes", lambda: 36 * 2**20)
    assert history_size() == messages_needed(VERIFY_QUEUE_SIZE, IN_FLIGHT_BYTES + 36 * 2**20)
    assert history_size() > VERIFY_HISTORY_SIZE
    monkeypatch.setattr(compose_test, "proxy_in_flight_bytes", lambda: 0)
    assert history_size() == VERIFY_HISTORY_SIZE  # never below verify's own
