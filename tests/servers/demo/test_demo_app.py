"""The demo page's server without a browser: config, security headers, the drop fan-out."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from contract.registry import TARGETS, get_target
from servers.demo.app import create_demo_app
from servers.demo.config import DemoConfig, Panel
from tbench.demo_session import reserve_port, target_env
from tbench.process import Spawn, TargetProcess

ORIGIN = "http://127.0.0.1:8080"


class Client:
    """Requests straight to the ASGI app (no server, no thread)."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
                response = await client.request(method, path, **kwargs)
                await response.aread()
                return response

        return asyncio.run(send())

    def get(self, path: str) -> httpx.Response:
        return self.request("GET", path)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)


def config_with(panels: tuple[Panel, ...], drop_enabled: bool = True) -> DemoConfig:
    return DemoConfig("demo", ORIGIN, panels, drop_enabled)


def test_config_lists_every_registered_target_in_order_with_its_capabilities():
    panels = tuple(Panel.of(spec, "127.0.0.1", 9000 + i) for i, spec in enumerate(TARGETS.values()))
    body = Client(create_demo_app(config_with(panels))).get("/config.json").json()
    assert [panel["name"] for panel in body["panels"]] == list(TARGETS)
    for panel, spec in zip(body["panels"], TARGETS.values(), strict=True):
        assert panel["family"] == spec.family
        assert panel["supports_resume"] == spec.supports_resume
        assert panel["assigns_ids"] == spec.assigns_ids
        assert panel["url"].startswith(f"{spec.scheme}://127.0.0.1:")
        assert panel["http_root"].startswith("http://127.0.0.1:")
    assert (body["room"], body["drop_enabled"]) == ("demo", True)


def test_page_loads_nothing_from_elsewhere_and_connects_only_to_the_targets():
    panel = Panel.of(get_target("websocket"), "127.0.0.1", 9004)
    client = Client(create_demo_app(config_with((panel,))))
    page = client.get("/")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "connect-src 'self' ws://127.0.0.1:9004;" in policy
    assert "http://" not in page.text.replace("http://127.0.0.1", "")  # no external URL
    for asset in ("/static/demo.js", "/static/demo.css"):
        assert client.get(asset).status_code == 200


def test_drop_is_refused_when_off_and_from_another_origin():
    assert Client(create_demo_app(config_with((), False))).post("/drop").status_code == 404
    client = Client(create_demo_app(config_with(())))
    assert client.post("/drop", headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.post("/drop", headers={"Origin": ORIGIN}).json() == {"results": {}}


@pytest.fixture
def sse_with_drop() -> Iterator[TargetProcess]:
    with TargetProcess(
        get_target("sse"), spawn=Spawn(env=target_env(ORIGIN, True))
    ).start() as server:
        yield server


def test_drop_reaches_every_target_and_names_those_without_the_fault(
    sse_with_drop: TargetProcess, short_polling: TargetProcess
):
    panels = (
        Panel.of(sse_with_drop.spec, sse_with_drop.host, sse_with_drop.port),
        Panel.of(short_polling.spec, short_polling.host, short_polling.port),  # no --admin
    )
    results = Client(create_demo_app(config_with(panels))).post("/drop").json()["results"]
    assert results["sse"] == {"dropped": 0}
    assert "404" in results["short-polling"]["error"]


def test_a_busy_page_port_fails_before_any_target_starts():
    with reserve_port("127.0.0.1", 0) as taken, pytest.raises(OSError, match="in use"):
        reserve_port("127.0.0.1", taken.getsockname()[1])
