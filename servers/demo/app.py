"""The demo page's server: the static page, `/config.json`, and the drop button's fan-out."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from servers.demo.config import DemoConfig, Panel
from servers.http_common import ADMIN_DROP_PATH

STATIC_DIR = Path(__file__).parent / "static"
DROP_TIMEOUT_S = 5.0


def create_demo_app(config: DemoConfig) -> Starlette:
    """The page at `/`, its files under `/static/`, `/config.json`, and `POST /drop`."""
    security_headers = {
        "Content-Security-Policy": config.content_security_policy(),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }

    async def index(request: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", headers=security_headers)

    async def config_json(request: Request) -> Response:
        return JSONResponse(config.to_json(), headers={"Cache-Control": "no-store"})

    async def drop(request: Request) -> Response:
        """Trigger every target's drop fault; per target, what it ended or why it could not."""
        if not config.drop_enabled:
            return JSONResponse({"error": "started without the drop button"}, status_code=404)
        origin = request.headers.get("origin")
        if origin is not None and origin != config.origin:  # only this page may press it
            return JSONResponse({"error": f"origin {origin!r} is not allowed"}, status_code=403)
        async with httpx.AsyncClient(timeout=DROP_TIMEOUT_S) as client:
            outcomes = await asyncio.gather(*(_drop(client, panel) for panel in config.panels))
        names = [panel.name for panel in config.panels]
        return JSONResponse({"results": dict(zip(names, outcomes, strict=True))})

    async def no_favicon(request: Request) -> Response:
        return Response(status_code=204)

    return Starlette(
        routes=[
            Route("/", index),
            Route("/config.json", config_json),
            Route("/drop", drop, methods=["POST"]),
            Route("/favicon.ico", no_favicon),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ]
    )


async def _drop(client: httpx.AsyncClient, panel: Panel) -> dict[str, object]:
    try:
        response = await client.post(panel.http_root + ADMIN_DROP_PATH)
    except httpx.HTTPError as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    if response.status_code != 200:
        return {"error": f"no drop fault here (HTTP {response.status_code})"}
    dropped: int = response.json()["dropped"]
    return {"dropped": dropped}
