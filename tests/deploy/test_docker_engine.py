"""The compose test's engine: which socket, when it is skipped, how dockerd is started."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools import compose_test, docker_engine
from devtools.docker_base import ROOT
from devtools.docker_engine import (
    DEFAULT_SOCKET,
    dockerd_argv,
    mounts_below,
    socket_of,
    why_no_engine,
)


def test_the_socket_a_docker_host_names():
    assert socket_of(None) == DEFAULT_SOCKET
    assert socket_of("") == DEFAULT_SOCKET
    assert socket_of("unix:///tmp/d/docker.sock") == Path("/tmp/d/docker.sock")
    assert socket_of("tcp://10.0.0.1:2375") is None  # nothing to mount into the runner


def test_dockerd_keeps_everything_in_its_own_directory_and_leaves_the_network_alone():
    argv = dockerd_argv(Path("/tmp/tbd-x"))
    for option, value in [
        ("--data-root", "/tmp/tbd-x/data"),
        ("--exec-root", "/tmp/tbd-x/exec"),
        ("--pidfile", "/tmp/tbd-x/dockerd.pid"),
        ("--host", "unix:///tmp/tbd-x/docker.sock"),
    ]:
        assert argv[argv.index(option) + 1] == value
    assert {"--iptables=false", "--ip-masq=false", "--bridge=none"} <= set(argv)


@pytest.fixture
def no_engine_and_not_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-such.sock'}")
    monkeypatch.setattr(docker_engine.os, "geteuid", lambda: 1000)


@pytest.mark.usefixtures("no_engine_and_not_root")
def test_without_an_engine_or_root_it_says_why():
    assert why_no_engine() == "no Docker engine answers, and starting dockerd needs root"


@pytest.mark.usefixtures("no_engine_and_not_root")
def test_make_test_skips_with_the_reason_and_make_compose_test_fails(capsys):
    assert compose_test.main(["--if-engine"]) == 0
    assert "compose-test: SKIPPED: no Docker engine answers" in capsys.readouterr().out
    assert compose_test.main([]) == 1


def test_make_test_runs_the_compose_test_where_an_engine_can_run():
    makefile = (ROOT / "Makefile").read_text()
    (steps,) = [line.split()[2:] for line in makefile.splitlines() if line.startswith("TEST_STEPS")]
    assert steps[-1] == "compose-test-if-engine"  # after the quick checks
    assert "\t@scripts/timed-steps.sh $(TEST_STEPS)" in makefile
    assert "\t$(BIN)/python -m devtools.compose_test --if-engine" in makefile


def test_what_dockerd_leaves_mounted_in_its_directory_is_found_deepest_first():
    mounts = (
        "nsfs /tmp/tbd-x/exec/netns/default nsfs rw 0 0\n"
        "overlay /tmp/tbd-x/data/overlay2/abc/merged overlay rw 0 0\n"
        "nsfs /tmp/tbd-xy/exec/netns/default nsfs rw 0 0\n"
        "tmpfs /tmp tmpfs rw 0 0\n"
    )
    assert mounts_below(Path("/tmp/tbd-x"), mounts) == [
        "/tmp/tbd-x/exec/netns/default",
        "/tmp/tbd-x/data/overlay2/abc/merged",
    ]
