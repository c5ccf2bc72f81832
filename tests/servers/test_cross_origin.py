"""`--cors-origin`: exactly one browser origin gets in, over HTTP and WebSocket; off by default."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from contract import codec
from contract.registry import ASGI_LAUNCHER, TARGETS
from tbench.process import TargetProcess
from tests.servers.conftest import BROWSER_ORIGIN
from tests.servers.helpers import TIMEOUT, http_root, new_room, payload

# Every target the shared launcher starts takes the option (the emulator is API Gateway's
# stand-in: like API Gateway, it does no Origin check of its own).
LAUNCHED = [name for name, spec in TARGETS.items() if spec.launcher == ASGI_LAUNCHER]
HTTP_PUBLISH = [name for name in LAUNCHED if TARGETS[name].family != "websocket"]
OTHER_ORIGIN = "http://127.0.0.1:9999"


@pytest.mark.parametrize("name", LAUNCHED)
def test_the_allowed_origin_gets_cors_headers_for_that_origin_only(
    name: str, opted_in: Callable[[str], TargetProcess]
):
    server = opted_in(name)
    response = httpx.get(
        f"{http_root(server)}/healthz", headers={"Origin": BROWSER_ORIGIN}, timeout=TIMEOUT
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == BROWSER_ORIGIN
    assert response.headers["timing-allow-origin"] == BROWSER_ORIGIN
    assert "access-control-allow-credentials" not in response.headers
    assert "origin" in response.headers["vary"].lower()


@pytest.mark.parametrize("name", LAUNCHED)
def test_another_origin_is_refused_without_cors_headers(
    name: str, opted_in: Callable[[str], TargetProcess]
):
    server = opted_in(name)
    response = httpx.get(
        f"{http_root(server)}/healthz", headers={"Origin": OTHER_ORIGIN}, timeout=TIMEOUT
    )
    assert response.status_code == 403
    assert response.json()["kind"] == "forbidden_origin"
    assert not any(header.startswith("access-control-") for header in response.headers)
    assert "timing-allow-origin" not in response.headers


@pytest.mark.parametrize("name", LAUNCHED)
def test_clients_without_origin_are_unaffected(name: str, opted_in: Callable[[str], TargetProcess]):
    response = httpx.get(f"{http_root(opted_in(name))}/healthz", timeout=TIMEOUT)
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("name", HTTP_PUBLISH)
def test_preflight_allows_json_posts_and_last_event_id_but_nothing_else(
    name: str, opted_in: Callable[[str], TargetProcess]
):
    url = f"{http_root(opted_in(name))}/rooms/{new_room()}/messages"

    def preflight(method: str, headers: str) -> httpx.Response:
        return httpx.options(
            url,
            headers={
                "Origin": BROWSER_ORIGIN,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": headers,
            },
            timeout=TIMEOUT,
        )

    allowed = preflight("POST", "content-type,last-event-id")
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == BROWSER_ORIGIN
    assert set(allowed.headers["access-control-allow-methods"].split(", ")) == {"GET", "POST"}
    assert "*" not in allowed.headers["access-control-allow-headers"]
    assert preflight("DELETE", "content-type").status_code == 400
    assert preflight("POST", "authorization").status_code == 400


@pytest.mark.parametrize("name", HTTP_PUBLISH)
def test_the_allowed_origin_can_publish(name: str, opted_in: Callable[[str], TargetProcess]):
    response = httpx.post(
        f"{http_root(opted_in(name))}/rooms/{new_room()}/messages",
        content=payload(),
        headers={"Origin": BROWSER_ORIGIN, "Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 201
    assert response.headers["access-control-allow-origin"] == BROWSER_ORIGIN


def test_a_form_post_from_another_origin_publishes_nothing(
    opted_in: Callable[[str], TargetProcess],
):
    # A "simple" cross-origin POST is sent without a preflight: refused before the app.
    server = opted_in("short-polling")
    room = new_room()
    response = httpx.post(
        f"{http_root(server)}/rooms/{room}/messages",
        content=payload(),
        headers={"Origin": OTHER_ORIGIN, "Content-Type": "text/plain"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 403
    last = httpx.get(f"{http_root(server)}/rooms/{room}/messages", timeout=TIMEOUT)
    assert last.json()["last_id"] == 0


def test_without_the_option_there_are_no_cors_headers(short_polling: TargetProcess):
    response = httpx.get(
        f"{http_root(short_polling)}/healthz", headers={"Origin": BROWSER_ORIGIN}, timeout=TIMEOUT
    )
    assert response.status_code == 200
    assert not any(header.startswith("access-control-") for header in response.headers)
    assert "timing-allow-origin" not in response.headers


def test_websocket_handshake_checks_origin(opted_in: Callable[[str], TargetProcess]):
    server = opted_in("websocket")
    room = new_room()
    for origin in (BROWSER_ORIGIN, None):  # the allowed origin, and clients that send none
        with connect(f"{server.url}?room={room}", origin=origin, open_timeout=10) as ws:
            ws.send(codec.dumps_str({"action": "sendMessage", "room": room, **_fields()}))
            assert codec.loads(ws.recv(timeout=10))["room"] == room
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{server.url}?room={room}", origin=OTHER_ORIGIN, open_timeout=10)
    assert refused.value.response.status_code == 403
    assert b"forbidden_origin" in refused.value.response.body


def _fields() -> dict[str, object]:
    return {"sender": "s", "seq": 1, "body": "hi", "sent_at": 1.0}
