"""LeanRoutes: the hot routes in front of FastAPI answer as FastAPI's own routes would."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from contract import codec
from contract.messages import InvalidInput, validate_room
from servers.http_common import error_response, json_response
from servers.lean_routes import LeanRoutes, room_resource
from tbench.process import TargetProcess
from tests.servers.helpers import TIMEOUT, http_root, new_room


def _run_app(
    path: str, method: str = "GET"
) -> tuple[list[dict[str, Any]], list[str], BaseException | None]:
    """Serve one request through LeanRoutes; the messages sent, who answered, what it raised."""
    answered: list[str] = []
    sent: list[dict[str, Any]] = []

    async def fallback(scope: Any, receive: Any, send: Any) -> None:
        answered.append("fallback")
        await Response(b"", status_code=404)(scope, receive, send)

    async def poll(request: Request) -> Response:
        answered.append("poll:" + validate_room(request.path_params["room"]))
        return Response(b"ok")

    async def explode(request: Request) -> Response:
        raise RuntimeError("boom")

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, InvalidInput)
        return json_response(exc.to_json(), exc.problem.http_status)

    async def internal(request: Request, exc: Exception) -> Response:
        return error_response(500, "internal server error", "internal")

    lean = LeanRoutes(
        fallback,
        {("GET", "messages"): poll, ("POST", "messages"): explode},
        {InvalidInput: invalid, Exception: internal},
    )

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": [], "query_string": b""}
    try:
        asyncio.run(lean(scope, receive, send))
    except RuntimeError as exc:
        return sent, answered, exc
    return sent, answered, None


def test_a_room_path_goes_to_its_endpoint_and_anything_else_to_fastapi():
    assert _run_app("/rooms/r-1/messages")[1] == ["poll:r-1"]
    for path in ("/rooms//messages", "/rooms/r/messages/x", "/rooms/r/events", "/rooms/r", "/x"):
        assert _run_app(path)[1] == ["fallback"], path
    assert _run_app("/rooms/r/messages", method="PUT")[1] == ["fallback"]


def test_errors_map_through_the_handlers_and_an_unexpected_one_is_answered_then_raised():
    sent, _, raised = _run_app("/rooms/bad.room/messages")
    assert (sent[0]["status"], codec.loads(sent[1]["body"])["kind"]) == (400, "invalid_room")
    assert raised is None
    sent, _, raised = _run_app("/rooms/r/messages", method="POST")
    assert (sent[0]["status"], codec.loads(sent[1]["body"])["kind"]) == (500, "internal")
    assert isinstance(raised, RuntimeError)  # re-raised: the server logs it


def _run_session(path: str, root_path: str = "") -> list[str]:
    """Open one WebSocket session through LeanRoutes; who served it."""
    served: list[str] = []

    async def fallback(scope: Any, receive: Any, send: Any) -> None:
        served.append("fallback")

    async def socket(websocket: WebSocket) -> None:
        served.append(f"socket:{websocket.query_params['room']}")

    lean = LeanRoutes(fallback, {}, {}, {"/ws": socket})
    scope = {
        "type": "websocket",
        "path": path,
        "root_path": root_path,
        "headers": [],
        "query_string": b"room=r-1",
    }
    asyncio.run(lean(scope, None, None))  # type: ignore[arg-type]
    return served


def test_a_socket_path_goes_to_its_endpoint_and_anything_else_to_fastapi():
    assert _run_session("/ws") == ["socket:r-1"]
    for path in ("/ws/", "/ws/x", "/rooms/r/messages", "/"):
        assert _run_session(path) == ["fallback"], path
    assert _run_session("/api/ws", root_path="/api") == ["fallback"]  # mounted: routed as before


def test_only_room_resource_paths_can_be_hot():
    assert room_resource("/rooms/{room}/events") == "events"
    with pytest.raises(ValueError, match="not a /rooms"):
        room_resource("/healthz")


def test_paths_next_to_the_hot_routes_get_the_framework_answers(http_target: TargetProcess):
    room = new_room()
    with httpx.Client(base_url=http_root(http_target), timeout=TIMEOUT) as client:
        for method, path, status, kind in (
            ("GET", f"/rooms/{room}/messages/extra", 404, "not_found"),
            ("GET", "/rooms//messages", 404, "not_found"),
            ("GET", "/rooms/a%2Fb/messages", 404, "not_found"),
            ("PATCH", f"/rooms/{room}/messages", 405, "method_not_allowed"),
        ):
            response = client.request(method, path)
            assert (response.status_code, response.json()["kind"]) == (status, kind), path
