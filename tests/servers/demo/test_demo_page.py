"""`tbench demo` end to end: every registered target, the page in headless Debian Chromium."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from contract.addresses import free_port
from contract.registry import TARGETS
from tests.waiting import wait_until

CHROMIUM = Path("/usr/bin/chromium")  # Debian's; `make install` installs it (Playwright's download
CHROMIUM_ARGS = [  # is not available here)
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
START_TIMEOUT_S = 150.0  # five servers (one with DynamoDB) on a shared two-core machine
DELIVERY_TIMEOUT_MS = 30_000
WHOLE_MS = re.compile(r"^\d+ ms$")

pytestmark = [pytest.mark.slow, pytest.mark.slow, pytest.mark.timeout(400)]


@dataclass
class RunningDemo:
    """The `tbench demo` process, the page URL and the page's /config.json."""

    process: subprocess.Popen[bytes]
    url: str
    config: dict[str, Any]
    log_path: Path

    def panels(self, family: str | None = None) -> list[dict[str, Any]]:
        """The panels, or those of one family."""
        return [p for p in self.config["panels"] if family in (None, p["family"])]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDemo]:
    port = free_port()
    room = f"demo-{uuid.uuid4().hex[:8]}"
    log_path = tmp_path_factory.mktemp("demo") / "tbench-demo.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tbench.cli", "demo", "--port", str(port), "--room", room],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        config = _wait_for_config(process, url, log_path)
        yield RunningDemo(process, url, config, log_path)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for_config(process: subprocess.Popen[bytes], url: str, log: Path) -> dict[str, Any]:
    def config() -> dict[str, Any] | None:
        assert process.poll() is None, f"tbench demo exited:\n{log.read_text()}"
        try:
            response = httpx.get(url + "config.json", timeout=2)
        except httpx.HTTPError:
            return None
        return response.json() if response.status_code == 200 else None  # type: ignore[no-any-return]

    try:
        return wait_until(
            config, f"tbench demo serving {url}", timeout_s=START_TIMEOUT_S, poll_s=0.25
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{log.read_text()}") from None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "the demo test needs Debian's chromium: apt-get install chromium"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class SentHeaders:
    """The request headers Chromium put on the wire (DevTools), by request, in send order.

    Playwright's own view misses `Last-Event-ID`: Chromium adds it below the page, as a
    CORS-exempt header, so only the network service's "extra info" shows it.
    """

    def __init__(self, page: Page) -> None:
        self._urls: dict[str, str] = {}
        self._headers: dict[str, dict[str, str]] = {}
        session = page.context.new_cdp_session(page)
        session.on("Network.requestWillBeSent", self._sent)
        session.on("Network.requestWillBeSentExtraInfo", self._extra_info)
        session.send("Network.enable")

    def _sent(self, event: dict[str, Any]) -> None:
        self._urls.setdefault(event["requestId"], event["request"]["url"])

    def _extra_info(self, event: dict[str, Any]) -> None:
        headers = {name.lower(): value for name, value in event["headers"].items()}
        self._headers[event["requestId"]] = headers

    def requests(self) -> list[tuple[str, dict[str, str]]]:
        """(url, headers sent) of every request so far."""
        return [(url, self._headers.get(rid, {})) for rid, url in self._urls.items()]


def panel(page: Page, name: str) -> Any:
    """The panel of one target."""
    return page.locator(f'.panel[data-target="{name}"]')


def send(page: Page, body: str) -> None:
    """Type a message once and send it (to every transport)."""
    page.fill("#message", body)
    page.press("#message", "Enter")


def expect_exactly_once(page: Page, names: list[str], body: str) -> None:
    """Every named panel shows `body` exactly once."""
    for name in names:
        lines = panel(page, name).locator(f'li[data-body="{body}"]')
        expect(lines).to_have_count(1, timeout=DELIVERY_TIMEOUT_MS)


def wait_for(page: Page, predicate: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    """Let the page run (events, routes) until `predicate` holds."""
    wait_until(
        predicate,
        what,
        timeout_s=timeout_s,
        poll_s=0.1,
        pause=lambda seconds: page.wait_for_timeout(seconds * 1000),
    )


class HeldReconnects:
    """Lets each SSE stream's first request through and holds every later one (a reconnect)
    until released: whatever is published meanwhile can only arrive through Last-Event-ID."""

    def __init__(self, page: Page, sse_roots: list[str]) -> None:
        self.sse_roots = sse_roots
        self.held: list[Route] = []
        self._first_streams: set[str] = set()
        page.route(lambda url: _is_stream(url, sse_roots), self._route)

    def _route(self, route: Route) -> None:
        root = next(r for r in self.sse_roots if route.request.url.startswith(r))
        if root in self._first_streams:
            self.held.append(route)
        else:
            self._first_streams.add(root)
            route.continue_()

    def release(self) -> None:
        """Let the held reconnects go."""
        for route in self.held:
            route.continue_()


def open_live_page(page: Page, demo: RunningDemo, names: list[str]) -> None:
    """Load the demo page and wait until every panel is live."""
    page.goto(demo.url)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator(".panel")).to_have_count(len(TARGETS))
    for name in names:  # the lambda target's first $connect is a cold start
        expect(panel(page, name)).to_have_attribute("data-state", "live", timeout=60_000)


def send_hello(page: Page, demo: RunningDemo, names: list[str]) -> dict[str, str | None]:
    """One message to every panel, counted and timed; each SSE panel's id of it."""
    hello = f"hello {uuid.uuid4().hex[:6]}"
    send(page, hello)
    expect_exactly_once(page, names, hello)
    for name in names:
        card = panel(page, name)
        assert int(card.get_attribute("data-requests") or 0) >= 1
        assert int(card.get_attribute("data-bytes-down") or 0) > 0
        assert int(card.get_attribute("data-bytes-up") or 0) > len(hello)
        expect(card.locator(f'li[data-body="{hello}"] .latency')).to_have_text(WHOLE_MS)
    return {
        p["name"]: panel(page, p["name"])
        .locator(f'li[data-body="{hello}"]')
        .get_attribute("data-id")
        for p in demo.panels("sse")
    }


def drop_connections(page: Page, demo: RunningDemo, held: HeldReconnects) -> None:
    """The server drops every connection: SSE streams wait on their held reconnects, the
    WebSockets come back (with since=) before anything else is sent."""
    page.click("#drop")
    expect(page.locator("body")).to_have_attribute("data-dropped", "done")
    for p in demo.panels("sse"):
        assert int(panel(page, p["name"]).get_attribute("data-dropped") or 0) >= 1
    wait_for(page, lambda: len(held.held) == len(held.sse_roots), "EventSource to reconnect")
    for p in demo.panels("sse"):
        expect(panel(page, p["name"])).to_have_attribute("data-state", "reconnecting")
    # Dropped WebSockets come back first, so no frame meets a closing socket.
    for p in demo.panels("websocket"):
        card = panel(page, p["name"])
        if (card.get_attribute("data-dropped") or "unsupported").isdigit():
            expect(card).to_have_attribute("data-reconnects", "1", timeout=DELIVERY_TIMEOUT_MS)
            expect(card).to_have_attribute("data-state", "live")


def send_into_gap(page: Page, names: list[str], sse_names: list[str]) -> list[str]:
    """Two messages while the SSE streams are down: everyone else gets them at once."""
    gap = [f"gap {i} {uuid.uuid4().hex[:6]}" for i in (1, 2)]
    for body in gap:
        send(page, body)
    others = [name for name in names if name not in sse_names]
    for body in gap:
        expect_exactly_once(page, others, body)
    for name in sse_names:  # published to the SSE target while its stream was down
        expect(panel(page, name)).to_have_attribute("data-published", "3")
        expect(panel(page, name).locator("li")).to_have_count(1)
    return gap


def expect_resumed(page: Page, sse_names: list[str], gap: list[str]) -> None:
    """Each SSE panel got the gap once, in order, after one reconnect."""
    for name in sse_names:
        card = panel(page, name)
        for body in gap:
            expect_exactly_once(page, [name], body)
        expect(card).to_have_attribute("data-state", "live")
        expect(card).to_have_attribute("data-reconnects", "1")
        expect(card).to_have_attribute("data-duplicates", "0")
        ids = [int(i) for i in card.locator("li").evaluate_all("ls => ls.map(l => l.dataset.id)")]
        assert len(ids) == 3
        assert ids == sorted(ids)


def expect_cursor_in_header(
    wire: SentHeaders, demo: RunningDemo, sse_roots: list[str], last_ids: dict[str, str | None]
) -> None:
    """Each SSE reconnect carried its cursor in Last-Event-ID, and only there."""
    streams = [(url, h) for url, h in wire.requests() if _is_stream(url, sse_roots)]
    assert len(streams) == 2 * len(sse_roots)  # each stream, then its one reconnect
    for url, headers in streams[len(sse_roots) :]:
        name = next(p["name"] for p in demo.panels("sse") if url.startswith(p["http_root"]))
        assert "?" not in url  # no since=: the cursor can only have come from the header
        assert headers.get("last-event-id") == last_ids[name]


def test_every_panel_gets_the_message_and_sse_resumes_with_last_event_id(
    demo: RunningDemo, browser: Browser
):
    names = [p["name"] for p in demo.panels()]
    assert names == list(TARGETS)  # one panel per registered target, in registry order
    sse_roots = [p["http_root"] for p in demo.panels("sse")]
    assert sse_roots, "the registry has an SSE target"

    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    wire = SentHeaders(page)
    held = HeldReconnects(page, sse_roots)

    open_live_page(page, demo, names)
    last_ids = send_hello(page, demo, names)
    drop_connections(page, demo, held)
    gap = send_into_gap(page, names, list(last_ids))
    held.release()
    expect_resumed(page, list(last_ids), gap)
    expect_cursor_in_header(wire, demo, sse_roots, last_ids)
    for name in names:
        expect(panel(page, name)).to_have_attribute("data-duplicates", "0")

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo-page.png"), full_page=True)
    assert page_errors == []
    page.close()


def test_ctrl_c_stops_every_target(demo: RunningDemo):
    descendants = psutil.Process(demo.process.pid).children(recursive=True)
    assert len(descendants) >= len(TARGETS)
    demo.process.send_signal(signal.SIGINT)
    assert demo.process.wait(30) == 0, demo.log_path.read_text()
    _, alive = psutil.wait_procs(descendants, timeout=15)
    assert alive == [], f"left running: {[p.cmdline() for p in alive]}"
    for p in demo.panels():
        with pytest.raises(httpx.ConnectError):
            httpx.get(p["http_root"] + "/healthz", timeout=2)


def _is_stream(url: str, roots: list[str]) -> bool:
    return any(url.startswith(root) for root in roots) and "/events" in url
