"""Bad-input cases over WebSocket: close code + non-empty reason, health after each."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tbench import codec
from tbench.conformance import endpoints
from tbench.conformance.checks.bad_input_http import exact_size_payload
from tbench.conformance.checks.common import IDLE_TIMEOUT_S
from tbench.conformance.checks.health import health_problem
from tbench.conformance.context import CheckContext
from tbench.conformance.subscriber import SubscriptionError
from tbench.conformance.websocket import open_websocket
from tbench.messages import MAX_MESSAGE_BYTES, SEND_ACTION, Problem

CLOSE_TIMEOUT_S = 5.0
BAD_ROOM = "bad.room"


@dataclass(frozen=True)
class FrameCase:
    """One bad frame (or none: a bad query) and the close code the protocol specifies."""

    name: str
    frame: str | bytes | None
    close_code: int
    as_text: bool = True  # bytes go out as a text frame (how to send invalid UTF-8)
    room: str | None = None  # the query's room; None: a valid one


def frame_cases(room: str) -> list[FrameCase]:
    """The cases of the protocol's WebSocket close-code table."""
    good: dict[str, Any] = {
        "action": SEND_ACTION,
        "room": room,
        "sender": "u1",
        "seq": 1,
        "body": "hi",
        "sent_at": time.time(),
    }
    return [
        FrameCase("binary frame", codec.dumps(good), Problem.BINARY.ws_close_code, as_text=False),
        FrameCase(
            "not UTF-8",
            b'{"action": "sendMessage", "body": "\xff"}',
            Problem.NOT_UTF8.ws_close_code,
        ),
        FrameCase("malformed JSON", '{"action": "sendMessage", ', Problem.NOT_JSON.ws_close_code),
        FrameCase("empty frame", "", Problem.EMPTY.ws_close_code),
        FrameCase(
            "seq of wrong type",
            codec.dumps_str({**good, "seq": "1"}),
            Problem.INVALID_FIELD.ws_close_code,
        ),
        FrameCase(
            "missing sender field",
            codec.dumps_str({k: v for k, v in good.items() if k != "sender"}),
            Problem.INVALID_FIELD.ws_close_code,
        ),
        FrameCase("JSON array, not object", "[1, 2]", Problem.INVALID_FIELD.ws_close_code),
        FrameCase(
            "invalid room in the frame",
            codec.dumps_str({**good, "room": BAD_ROOM}),
            Problem.INVALID_ROOM.ws_close_code,
        ),
        FrameCase(
            "invalid room in the query", None, Problem.INVALID_ROOM.ws_close_code, room=BAD_ROOM
        ),
        FrameCase(
            "unknown action",
            codec.dumps_str({**good, "action": "shout"}),
            Problem.UNKNOWN_ACTION.ws_close_code,
        ),
        FrameCase(
            "missing action",
            codec.dumps_str({k: v for k, v in good.items() if k != "action"}),
            Problem.UNKNOWN_ACTION.ws_close_code,
        ),
        FrameCase(
            "over 128 KiB",
            exact_size_payload(good, MAX_MESSAGE_BYTES + 1).decode(),
            Problem.TOO_LARGE.ws_close_code,
        ),
    ]


async def await_close(ws: ClientConnection) -> tuple[int | None, str]:
    """Read until the server closes: (close code, reason); code None if it never did."""
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            while True:
                await ws.recv()
    except ConnectionClosed as exc:
        if exc.rcvd is None:
            return None, "dropped without a close frame"
        return exc.rcvd.code, exc.rcvd.reason
    except TimeoutError:
        return None, f"still open after {CLOSE_TIMEOUT_S:g} s"


async def case_problem(ctx: CheckContext, room: str, case: FrameCase) -> str | None:
    """Send one case on a fresh connection; how the close differs from the specified one."""
    url = endpoints.websocket_url(ctx.base_url, case.room or room)
    try:
        ws = await open_websocket(url)
    except SubscriptionError as exc:
        return f"{case.name}: {exc} (expected an accepted connection closed {case.close_code})"
    try:
        if case.frame is not None:
            with contextlib.suppress(ConnectionClosed):  # closed already: reported below
                await ws.send(case.frame, text=case.as_text)
        code, reason = await await_close(ws)
    finally:
        await ws.close()
    if code != case.close_code:
        got = f"close {code} {reason!r}" if code is not None else reason
        return f"{case.name}: {got}, expected close {case.close_code}"
    if not reason:
        return f"{case.name}: close {code} without a reason"
    return None


async def exact_size_problem(ctx: CheckContext, room: str) -> str | None:
    """A frame of exactly 128 KiB is allowed: it is delivered back to its sender."""
    fields = {
        "action": SEND_ACTION,
        "room": room,
        "sender": "big",
        "seq": 1,
        "sent_at": time.time(),
    }
    frame = exact_size_payload(fields, MAX_MESSAGE_BYTES).decode()
    ws = await open_websocket(endpoints.websocket_url(ctx.base_url, room))
    try:
        await ws.send(frame)
        async with asyncio.timeout(IDLE_TIMEOUT_S):
            while True:
                echo = codec.loads(await ws.recv())
                if isinstance(echo, dict) and echo.get("sender") == "big":
                    return None
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd else None
        return f"exactly 128 KiB (allowed): closed {code}, expected the echo"
    except TimeoutError:
        return f"exactly 128 KiB (allowed): no echo within {IDLE_TIMEOUT_S:g} s"
    finally:
        await ws.close()


async def websocket_case_failures(ctx: CheckContext) -> tuple[int, list[str]]:
    """Send every case, each on its own connection; returns the case count and failures."""
    room = ctx.new_room("bad-input")
    cases = frame_cases(room)
    failures: list[str] = []
    for case in cases:
        problem = await case_problem(ctx, room, case)
        if problem:
            failures.append(problem)
        unhealthy = await health_problem(ctx)
        if unhealthy:
            failures.append(f"after {case.name}: {unhealthy}")
            return len(cases), failures
    problem = await exact_size_problem(ctx, room)
    if problem:
        failures.append(problem)
    return len(cases) + 1, failures
