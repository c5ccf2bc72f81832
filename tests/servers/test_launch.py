from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.sync.client import connect

from contract.messages import MAX_MESSAGE_BYTES
from servers.launch import GC_THRESHOLDS, UVICORN_SETTINGS, parse_args, settings_from, tune_gc
from servers.settings import Settings, SettingsError
from tbench.process import TargetProcess
from tests.servers.conftest import started
from tests.servers.helpers import TIMEOUT, connections, http_root, new_room, publish
from tests.waiting import wait_until

pytestmark = pytest.mark.slow  # starts servers or runs: not in `make test-fast`


@pytest.fixture
def no_tbench_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No TBENCH_* variables: settings start from their defaults."""
    for name in list(os.environ):
        if name.startswith("TBENCH_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_settings_defaults_follow_the_protocol(no_tbench_env: pytest.MonkeyPatch):
    settings = Settings.from_env()
    assert settings == Settings()
    assert (settings.history_size, settings.history_max_age_s) == (10_000, 60.0)
    assert settings.queue_size == 1_024
    assert (settings.long_poll_max_wait_s, settings.sse_ping_s) == (30.0, 15.0)
    assert settings.broker_url == "memory://"
    assert settings.max_message_bytes == MAX_MESSAGE_BYTES


def test_settings_round_trip_through_the_environment(no_tbench_env: pytest.MonkeyPatch):
    settings = Settings(
        history_size=5,
        history_max_age_s=1.5,
        queue_size=6,
        long_poll_max_wait_s=2.5,
        sse_ping_s=0.5,
    )
    browser = Settings(cors_origin="http://127.0.0.1:8080", admin=True)
    for expected in (settings, browser):
        for name, value in expected.to_env().items():
            no_tbench_env.setenv(name, value)
        assert Settings.from_env() == expected


def test_empty_variables_keep_the_defaults(no_tbench_env: pytest.MonkeyPatch):
    for name in Settings().to_env():
        no_tbench_env.setenv(name, "")
    assert Settings.from_env() == Settings()
    no_tbench_env.setenv("TBENCH_MAX_MESSAGE_BYTES", "1")  # fixed by the contract: not read
    assert Settings.from_env().max_message_bytes == MAX_MESSAGE_BYTES


def test_cors_and_admin_are_off_unless_asked(no_tbench_env: pytest.MonkeyPatch):
    assert (Settings().cors_origin, Settings().admin) == (None, False)
    no_tbench_env.setenv("TBENCH_ADMIN", "yes")
    args = parse_args(["servers.sse:app", "--port", "1", "--cors-origin", "http://[::1]:80"])
    assert settings_from(args) == Settings(cors_origin="http://[::1]:80", admin=True)
    assert settings_from(parse_args(["servers.sse:app", "--port", "1", "--admin"])).admin


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TBENCH_HISTORY_SIZE": "many"}, "history_size should be a valid integer"),
        ({"TBENCH_HISTORY_MAX_AGE_S": "0"}, "history_max_age_s must be > 0"),
        ({"TBENCH_HISTORY_MAX_AGE_S": "inf"}, "history_max_age_s must be a finite number"),
        ({"TBENCH_QUEUE_SIZE": "0"}, "queue_size must be >= 1, got '0' (TBENCH_QUEUE_SIZE)"),
        ({"TBENCH_SSE_PING_S": "-1"}, "sse_ping_s must be > 0"),
        ({"TBENCH_LONG_POLL_MAX_WAIT_S": "nan"}, "long_poll_max_wait_s must be a finite number"),
        ({"TBENCH_BROKER_URL": "localhost"}, "broker_url must look like scheme://..."),
        ({"TBENCH_CORS_ORIGIN": "*"}, "cors_origin must be one origin"),
        ({"TBENCH_CORS_ORIGIN": "http://127.0.0.1:8080/"}, "(no path, no wildcard)"),
        ({"TBENCH_CORS_ORIGIN": "127.0.0.1:8080"}, "cors_origin must be one origin"),
        ({"TBENCH_ADMIN": "maybe"}, "admin should be a valid boolean"),
    ],
)
def test_bad_settings_are_refused_with_the_variable_named(
    no_tbench_env: pytest.MonkeyPatch, env: dict[str, str], named: str
):
    for name, value in env.items():
        no_tbench_env.setenv(name, value)
    with pytest.raises(SettingsError) as refused:
        Settings.from_env()
    assert named in str(refused.value)
    assert "\n" not in str(refused.value)  # one line, not pydantic's report


def test_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TBENCH_HISTORY_SIZE", "7")
    monkeypatch.setenv("TBENCH_HISTORY_MAX_AGE_S", "70")
    monkeypatch.setenv("TBENCH_QUEUE_SIZE", "8")
    args = parse_args(["servers.sse:app", "--port", "1", "--queue-size", "9", "--sse-ping-s", "2"])
    assert args.host == "127.0.0.1"
    settings = settings_from(args)
    assert (settings.history_size, settings.queue_size, settings.sse_ping_s) == (7, 9, 2.0)
    assert settings.history_max_age_s == 70.0
    aged = parse_args(["servers.sse:app", "--port", "1", "--history-max-age-s", "5"])
    assert settings_from(aged).history_max_age_s == 5.0


def test_every_target_gets_the_same_uvicorn_settings():
    assert UVICORN_SETTINGS["loop"] == "uvloop"
    assert UVICORN_SETTINGS["http"] == "servers.http_protocol:HttpProtocol"  # httptools + limits
    assert UVICORN_SETTINGS["ws"] == "servers.ws_protocol:WebSocketProtocol"
    assert UVICORN_SETTINGS["ws_per_message_deflate"] is False
    assert UVICORN_SETTINGS["ws_max_size"] == MAX_MESSAGE_BYTES
    assert UVICORN_SETTINGS["access_log"] is False


def test_every_target_gets_the_same_gc_thresholds():
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold() == GC_THRESHOLDS
    finally:
        gc.set_threshold(*before)
    # Young collections rarer than CPython's 700, so held polls end before the oldest generation.
    assert GC_THRESHOLDS[0] > 700
    assert GC_THRESHOLDS[1:] == (10, 10)


def test_launcher_refuses_bad_flags_without_a_traceback():
    argv = ["servers.sse:app", "--port", "1", "--queue-size", "0"]
    result = subprocess.run(
        [sys.executable, "-m", "servers.launch", *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "queue_size must be >= 1" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("launcher", "app"),
    [
        ("servers.launch", "servers.sse:app"),
        ("servers.lambda_ws.emulator", "servers.lambda_ws.handlers"),
    ],
)
def test_launchers_refuse_a_bad_log_level_without_a_traceback(launcher: str, app: str):
    result = subprocess.run(
        [sys.executable, "-m", launcher, app, "--port", "1"],
        capture_output=True,
        text=True,
        env={**os.environ, "TBENCH_LOG_LEVEL": "loud"},
        timeout=60,
    )
    assert result.returncode == 1
    assert f"{launcher}: TBENCH_LOG_LEVEL='loud' is not one of DEBUG, INFO" in result.stderr
    assert "Traceback" not in result.stderr


def test_history_size_flag_bounds_the_ring():
    with started("short-polling", "--history-size", "3") as server:
        health = httpx.get(f"{http_root(server)}/healthz", timeout=TIMEOUT).json()
        assert (health["history_size"], health["history_max_age_s"]) == (3, 60.0)
        room = new_room()
        for seq in range(1, 6):
            publish(server, room, seq)
        body = httpx.get(
            f"{http_root(server)}/rooms/{room}/messages", params={"since": 0}, timeout=TIMEOUT
        ).json()
    assert [m["id"] for m in body["messages"]] == [3, 4, 5]
    assert body["history_lost"] == {"since": 0, "oldest_id": 3}


def test_history_max_age_flag_bounds_the_ring_by_age():
    with started("short-polling", "--history-max-age-s", "0.3") as server:
        room = new_room()
        for seq in range(1, 3):
            publish(server, room, seq)
        time.sleep(0.5)  # tested: the age limit (0.3 s) passing
        url = f"{http_root(server)}/rooms/{room}/messages"
        body = httpx.get(url, params={"since": 0}, timeout=TIMEOUT).json()
        assert body == {
            "messages": [],
            "last_id": 2,
            "history_lost": {"since": 0, "oldest_id": 3},
        }
        publish(server, room, 3)
        body = httpx.get(url, params={"since": 2}, timeout=TIMEOUT).json()
    assert [m["id"] for m in body["messages"]] == [3]
    assert "history_lost" not in body


def _hold_long_poll(server: TargetProcess, room: str, outcome: dict[str, Any]) -> None:
    url = f"{http_root(server)}/rooms/{room}/messages"
    try:
        outcome["answer"] = httpx.get(url, params={"wait": 30}, timeout=20).json()
    except httpx.HTTPError as exc:
        outcome["error"] = exc


def _hold_event_stream(server: TargetProcess, room: str, outcome: dict[str, Any]) -> None:
    url = f"{http_root(server)}/rooms/{room}/events"
    try:
        with httpx.stream("GET", url, timeout=20) as response:
            outcome["answer"] = list(response.iter_lines())
    except httpx.HTTPError as exc:
        outcome["error"] = exc


def _hold_websocket(server: TargetProcess, room: str, outcome: dict[str, Any]) -> None:
    with connect(f"{server.url}?room={room}", open_timeout=10) as ws:
        try:
            ws.recv(timeout=20)
        except ConnectionClosed as exc:
            outcome["answer"] = exc.rcvd.code if exc.rcvd else None


HOLDERS = {"long-polling": _hold_long_poll, "sse": _hold_event_stream, "websocket": _hold_websocket}


@pytest.mark.parametrize("name", list(HOLDERS))
def test_sigterm_ends_open_connections_and_leaves_no_process(name: str):
    server = started(name)
    try:
        room = new_room()
        outcome: dict[str, Any] = {}
        client = threading.Thread(target=HOLDERS[name], args=(server, room, outcome))
        client.start()
        wait_until(lambda: connections(server) == 1)
        os.killpg(server.pid, signal.SIGTERM)
        assert server.proc is not None
        # Within the grace tbench.process gives before SIGKILL, and by itself: exit code 0.
        assert server.proc.wait(timeout=5) == 0, server.log_tail()
        client.join(timeout=10)
        assert not client.is_alive()
        with pytest.raises(ProcessLookupError):
            os.killpg(server.pid, 0)  # nothing of its process group is left
    finally:
        server.stop()
    assert "error" not in outcome, outcome
    if name == "long-polling":
        assert outcome["answer"] == {"messages": [], "last_id": 0}  # answered, not cut off
    elif name == "sse":
        assert outcome["answer"] == []  # the stream ended cleanly
    else:
        assert outcome["answer"] in (CloseCode.GOING_AWAY, CloseCode.SERVICE_RESTART)
    assert "Traceback" not in server.log_tail()
