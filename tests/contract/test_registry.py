from __future__ import annotations

import pytest

from contract.registry import TARGETS, get_target, resolve_targets


def test_all_resolves_every_target_in_order():
    assert [spec.name for spec in resolve_targets("all")] == list(TARGETS)


def test_unknown_target_lists_known_ones():
    with pytest.raises(KeyError, match="known targets"):
        resolve_targets("sse,carrier-pigeon")


def test_urls_bracket_ipv6_and_add_paths():
    assert get_target("websocket").url("::1", 9000) == "ws://[::1]:9000/ws"
    assert get_target("sse").url("127.0.0.1", 9000) == "http://127.0.0.1:9000"


def test_argv_runs_the_launcher_with_host_and_port():
    argv = get_target("sse").argv("127.0.0.1", 9000)
    assert argv[1:4] == ["-m", "servers.launch", "servers.sse:app"]
    assert argv[-4:] == ["--host", "127.0.0.1", "--port", "9000"]


def test_only_the_lambda_target_has_a_cpu_model_to_turn_off():
    lam = get_target("lambda")
    assert lam.cpu_model_args(True) == ()
    assert lam.cpu_model_args(False) == ("--no-cpu-model",)
    assert get_target("sse").cpu_model_args(False) == ()
