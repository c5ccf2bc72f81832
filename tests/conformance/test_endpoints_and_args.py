from __future__ import annotations

from dataclasses import replace

import pytest

from conformance import endpoints
from conformance.context import ServerFacts
from conformance.runner import verify_server_args
from contract.registry import get_target


def test_websocket_url_carries_room_and_cursor_on_any_stage_path():
    assert (
        endpoints.websocket_url("ws://127.0.0.1:9/ws", "r1", 7)
        == "ws://127.0.0.1:9/ws?room=r1&since=7"
    )
    assert endpoints.websocket_url("ws://[::1]:9/prod", "r1") == "ws://[::1]:9/prod?room=r1"


def test_health_url_is_at_the_http_root_of_any_base_url():
    assert endpoints.health_url("ws://127.0.0.1:9/dev") == "http://127.0.0.1:9/healthz"
    assert endpoints.health_url("wss://example.com/prod") == "https://example.com/healthz"
    assert endpoints.health_url("http://127.0.0.1:9") == "http://127.0.0.1:9/healthz"


def test_unknown_scheme_is_refused():
    with pytest.raises(ValueError, match="scheme"):
        endpoints.health_url("ftp://127.0.0.1:9")


def test_verify_passes_tuning_flags_only_to_the_shared_launcher():
    websocket = get_target("websocket")
    args, facts = verify_server_args(websocket)
    assert args == ("--history-size", "1000", "--queue-size", "64")
    assert (facts.queue_size, facts.history_size) == (64, 1000)
    sse_args, sse_facts = verify_server_args(get_target("sse"))
    assert sse_args == ("--history-size", "1000", "--queue-size", "64", "--sse-ping-s", "1.0")
    assert sse_facts == ServerFacts(sse_ping_s=1.0, queue_size=64, history_size=1000)
    assert verify_server_args(get_target("short-polling")) == (
        ("--history-size", "1000"),
        ServerFacts(history_size=1000),
    )
    emulated = replace(websocket, launcher="servers.lambda_ws.emulator")
    assert verify_server_args(emulated) == ((), ServerFacts())
    # the real lambda target: checked without its CPU model (the checks assume full speed)
    assert verify_server_args(get_target("lambda")) == (("--no-cpu-model",), ServerFacts())
