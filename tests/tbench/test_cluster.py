"""Replicas in local mode, for real: target processes, redis-server and nginx on loopback."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from conformance.result import Status
from conformance.runner import run_checks, verify_server_args
from contract import codec
from contract.messages import SEND_ACTION
from contract.registry import get_target
from tbench import nginx_config
from tbench.balancer import find_nginx
from tbench.cluster import Cluster, Replication, check_cluster_options
from tbench.nginx_config import BalancerConfig
from tbench.process import TargetProcess
from tests.servers.helpers import EventStream, new_room, payload
from tests.waiting import wait_until

pytestmark = pytest.mark.slow  # starts servers or runs: not in `make test-fast`

TIMEOUT = httpx.Timeout(10.0)
HTTP_TARGETS = ("short-polling", "long-polling", "sse")


def replica_root(replica: TargetProcess) -> str:
    return f"http://{replica.host}:{replica.port}"


def publish(root: str, room: str, seq: int) -> int:
    response = httpx.post(f"{root}/rooms/{room}/messages", content=payload(seq), timeout=TIMEOUT)
    assert response.status_code == 201, response.text
    message_id: int = response.json()["id"]
    return message_id


@contextmanager
def event_stream(root: str, room: str, last_event_id: int | None = None) -> Iterator[EventStream]:
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    with (
        httpx.Client(timeout=TIMEOUT) as client,
        client.stream("GET", f"{root}/rooms/{room}/events", headers=headers) as response,
    ):
        assert response.status_code == 200, response.read()
        yield EventStream(response.iter_lines())


def take_ids(stream: EventStream, count: int) -> list[int]:
    ids = []
    for _ in range(count):
        event = stream.next_event()
        assert codec.loads(event["data"])["id"] == int(event["id"])
        ids.append(int(event["id"]))
    return ids


@pytest.fixture(scope="module")
def sse_cluster() -> Iterator[Cluster]:
    with Cluster(get_target("sse"), Replication(2, "redis")) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def websocket_cluster() -> Iterator[Cluster]:
    with Cluster(get_target("websocket"), Replication(2, "redis")) as cluster:
        yield cluster


def test_generated_config_is_valid_nginx_for_long_lived_connections(tmp_path: Path):
    config = BalancerConfig(("127.0.0.1:9001", "127.0.0.1:9002"), "127.0.0.1:9000", str(tmp_path))
    text = config.render()
    for directive in (
        "daemon off;",
        f"pid {tmp_path}/nginx.pid;",
        f"error_log {tmp_path}/error.log",
        "worker_connections 16384;",
        "proxy_http_version 1.1;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
        "proxy_set_header Last-Event-ID $http_last_event_id;",
        "proxy_buffering off;",
        "proxy_read_timeout 3600s;",
        "server 127.0.0.1:9001;",
        "server 127.0.0.1:9002;",
    ):
        assert directive in text
    (tmp_path / "nginx.conf").write_text(text)
    error_log = str(tmp_path / "error.log")
    checked = subprocess.run(
        [
            find_nginx(),
            "-t",
            "-p",
            str(tmp_path),
            "-c",
            str(tmp_path / "nginx.conf"),
            "-e",
            error_log,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


def test_generator_command_line_for_containers(capsys: pytest.CaptureFixture[str]):
    nginx_config.main(["--upstream", "sse-1:8000", "--upstream", "sse-2:8000", "--listen", "8080"])
    text = capsys.readouterr().out
    assert "server sse-1:8000;" in text
    assert "server sse-2:8000;" in text
    assert "listen 8080 backlog=4096;" in text
    assert "pid /tmp/nginx/nginx.pid;" in text


def test_workers_user_is_the_first_line_after_the_header_when_given():
    config = BalancerConfig(("a:1",), "8080", "/run/", worker_processes=3, user="nobody")
    lines = config.render().splitlines()
    assert lines[1:4] == ["user nobody;", "daemon off;", "worker_processes 3;"]
    assert "pid /run/nginx.pid;" in lines
    assert "user" not in BalancerConfig(("a:1",), "8080", "/run").render().split()


def test_options_that_cannot_work_are_refused():
    with pytest.raises(ValueError, match="use the redis broker"):
        check_cluster_options(get_target("sse"), 2, "memory")
    with pytest.raises(ValueError, match="no room broker"):
        check_cluster_options(get_target("lambda"), 2, "redis")
    check_cluster_options(get_target("sse"), 1, "memory")  # one replica behind nginx is fine


def test_components_and_urls(sse_cluster: Cluster):
    components = sse_cluster.components()
    assert list(components) == ["replica-1", "replica-2", "redis", "nginx"]
    assert len(set(components.values())) == 4
    assert sse_cluster.alive()
    assert "[alert]" not in sse_cluster.balancer.log_tail()  # e.g. a file limit it cannot get
    assert sse_cluster.url == f"{sse_cluster.balancer.url}"
    health = httpx.get(f"{sse_cluster.url}/healthz", timeout=TIMEOUT).json()
    assert health["status"] == "ok"
    assert health["target"] == "sse"
    deployment = sse_cluster.deployment()
    assert (deployment.replicas, deployment.broker, deployment.balancer) == (
        2,
        "redis",
        "nginx",
    )


def test_subscriber_on_one_replica_gets_every_message_published_on_another_and_resumes(
    sse_cluster: Cluster,
):
    replica_a, replica_b = sse_cluster.replicas
    room = new_room("cross")
    try:
        with event_stream(replica_root(replica_a), room) as stream:
            ids = [publish(replica_root(replica_b), room, seq) for seq in range(1, 21)]
            assert ids == list(range(1, 21))
            assert take_ids(stream, 20) == ids
            replica_a.kill()  # lose replica A mid-stream
            with pytest.raises((httpx.HTTPError, EOFError)):
                stream.next_event()
        # Published while the subscriber was away, then resumed on replica B.
        missed = [publish(replica_root(replica_b), room, seq) for seq in range(21, 26)]
        with event_stream(replica_root(replica_b), room, last_event_id=20) as resumed:
            later = publish(replica_root(replica_b), room, 26)
            assert take_ids(resumed, 6) == [*missed, later]
        # Through the balancer too: A is gone, nginx sends the reconnect to B.
        with event_stream(sse_cluster.url, room, last_event_id=24) as via_balancer:
            assert take_ids(via_balancer, 2) == [25, 26]
    finally:
        if not replica_a.alive():
            replica_a.start()


def test_balancer_streams_sse_events_without_buffering(sse_cluster: Cluster):
    room = new_room("unbuffered")
    with (
        httpx.Client(timeout=TIMEOUT) as client,
        client.stream(
            "GET", f"{sse_cluster.url}/rooms/{room}/events", headers={"Accept": "text/event-stream"}
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        started = time.monotonic()
        publish(sse_cluster.url, room, 1)
        first = EventStream(response.iter_lines()).next_event()
        # The first event arrived while the response goes on (it never ends by itself).
        assert first["id"] == "1"
        assert not response.is_closed
        assert time.monotonic() - started < 5.0


def ws_frame(room: str, seq: int) -> str:
    fields: dict[str, Any] = {
        "action": SEND_ACTION,
        "room": room,
        "sender": "via-balancer",
        "seq": seq,
        "body": f"message {seq}",
        "sent_at": time.time(),
    }
    return codec.dumps_str(fields)


def connections_per_replica(cluster: Cluster) -> list[int]:
    counts = []
    for replica in cluster.replicas:
        health = httpx.get(f"{replica_root(replica)}/healthz", timeout=TIMEOUT).json()
        counts.append(health["connections"])
    return counts


def test_balancer_passes_websocket_upgrades_to_every_replica(websocket_cluster: Cluster):
    room = new_room("ws")
    url = f"{websocket_cluster.url}?room={room}"
    with (
        connect(url, open_timeout=10, close_timeout=5) as first,
        connect(url, open_timeout=10, close_timeout=5) as second,
    ):
        # least_conn spreads the two long-lived connections over both replicas.
        wait_until(
            lambda: connections_per_replica(websocket_cluster) == [1, 1],
            "one connection on each replica",
            poll_s=0.05,
        )
        # Sent from both replicas at once: Redis orders them, every client sees that order.
        first.send(ws_frame(room, 1))
        second.send(ws_frame(room, 2))
        seen = []
        for client in (first, second):
            received = [received_message(client) for _ in range(2)]
            assert [m["id"] for m in received] == [1, 2]
            seen.append([m["seq"] for m in received])
        assert seen[0] == seen[1]
        assert sorted(seen[0]) == [1, 2]


def received_message(client: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = codec.loads(client.recv(timeout=10))
    return message


async def _verify_through_balancers(names: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    async def verify(name: str) -> dict[str, Any]:
        spec = get_target(name)
        args, facts = verify_server_args(spec)
        cluster = Cluster(spec, Replication(2, "redis"), extra_args=args)
        await asyncio.to_thread(cluster.start)
        try:
            results = await run_checks(spec, cluster.url, facts)
            return {result.check: result for result in results}
        finally:
            await asyncio.to_thread(cluster.stop)

    verified = await asyncio.gather(*(verify(name) for name in names))
    return dict(zip(names, verified, strict=True))


@pytest.fixture(scope="module")
def verified_through_balancer() -> dict[str, dict[str, Any]]:
    """The conformance checks through nginx in front of two replicas on Redis, per target."""
    return asyncio.run(_verify_through_balancers((*HTTP_TARGETS, "websocket")))


@pytest.mark.parametrize("target", [*HTTP_TARGETS, "websocket"])
def test_two_replicas_behind_the_balancer_conform(verified_through_balancer, target):
    results = verified_through_balancer[target]
    failures = [f"{r.check}: {r.reason}" for r in results.values() if r.status is Status.FAIL]
    assert not failures, failures
    assert results["delivery"].status is Status.PASS
