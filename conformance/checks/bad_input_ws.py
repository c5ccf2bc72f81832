"""Bad-input cases over WebSocket: close code + non-empty reason, health after each."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from conformance import endpoints
from conformance.checks.bad_input_http import exact_size_payload
from conformance.checks.common import IDLE_TIMEOUT_S
from conformance.checks.health import health_problem
from conformance.context import CheckContext
from conformance.subscriber import SubscriptionError
from conformance.websocket import open_websocket, send_text
from contract import codec
from contract.messages import MAX_MESSAGE_BYTES, SEND_ACTION, Problem

CLOSE_TIMEOUT_S = 5.0
BAD_ROOM = "bad.room"
HANDSHAKE_REFUSED = re.compile(r"HTTP 4\d\d")


@dataclass(frozen=True)
class FrameCase:
    """One bad frame (or none: a bad query) and the problem it must be refused as."""

    name: str
    frame: str | bytes | None
    problem: Problem
    as_text: bool = True  # bytes go out as a text frame (how to send invalid UTF-8)
    room: str | None = None  # the query's room; None: a valid one
    since: str | None = None  # a raw `since` for the query


def frame_cases(room: str, *, with_cursor: bool) -> list[FrameCase]:
    """The cases of the protocol's WebSocket close-code table (`since` ones if it resumes)."""
    good: dict[str, Any] = {
        "action": SEND_ACTION,
        "room": room,
        "sender": "u1",
        "seq": 1,
        "body": "hi",
        "sent_at": time.time(),
    }
    cursor_cases = [
        FrameCase(f"since={since} in the query", None, Problem.INVALID_FIELD, since=since)
        for since in ("abc", "-1")
    ]
    return [
        *(cursor_cases if with_cursor else []),
        FrameCase("binary frame", codec.dumps(good), Problem.BINARY, as_text=False),
        FrameCase(
            "not UTF-8",
            b'{"action": "sendMessage", "body": "\xff"}',
            Problem.NOT_UTF8,
        ),
        FrameCase("malformed JSON", '{"action": "sendMessage", ', Problem.NOT_JSON),
        FrameCase("empty frame", "", Problem.EMPTY),
        FrameCase(
            "seq of wrong type",
            codec.dumps_str({**good, "seq": "1"}),
            Problem.INVALID_FIELD,
        ),
        FrameCase(
            "missing sender field",
            codec.dumps_str({k: v for k, v in good.items() if k != "sender"}),
            Problem.INVALID_FIELD,
        ),
        FrameCase("JSON array, not object", "[1, 2]", Problem.INVALID_FIELD),
        FrameCase(
            "invalid room in the frame",
            codec.dumps_str({**good, "room": BAD_ROOM}),
            Problem.INVALID_ROOM,
        ),
        FrameCase("invalid room in the query", None, Problem.INVALID_ROOM, room=BAD_ROOM),
        FrameCase(
            "unknown action",
            codec.dumps_str({**good, "action": "shout"}),
            Problem.UNKNOWN_ACTION,
        ),
        FrameCase(
            "missing action",
            codec.dumps_str({k: v for k, v in good.items() if k != "action"}),
            Problem.UNKNOWN_ACTION,
        ),
        FrameCase(
            "over 128 KiB",
            exact_size_payload(good, MAX_MESSAGE_BYTES + 1).decode(),
            Problem.TOO_LARGE,
        ),
    ]


@dataclass(frozen=True)
class Answer:
    """How the target answered a bad frame: a close, an error frame, or neither."""

    close_code: int | None = None
    reason: str = ""
    error_frame: dict[str, Any] | None = None

    def describe(self) -> str:
        """`close 1007 'reason'`, `error frame {...}`, or what happened instead."""
        if self.close_code is not None:
            return f"close {self.close_code} {self.reason!r}"
        if self.error_frame is not None:
            return f"error frame {codec.dumps_str(self.error_frame)[:120]}"
        return self.reason


async def await_answer(ws: ClientConnection) -> Answer:
    """Read until the server closes or sends an error frame (delivered messages are skipped)."""
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            while True:
                frame = await ws.recv()
                try:
                    data = codec.loads(frame)
                except codec.JSONDecodeError:
                    continue
                if isinstance(data, dict) and "error" in data:
                    return Answer(error_frame=data)
    except ConnectionClosed as exc:
        if exc.rcvd is None:
            return Answer(reason="dropped without a close frame")
        return Answer(exc.rcvd.code, exc.rcvd.reason)
    except TimeoutError:
        return Answer(reason=f"no close and no error frame within {CLOSE_TIMEOUT_S:g} s")


def answer_problem(case: FrameCase, answer: Answer, error_frames: bool) -> str | None:
    """How the answer differs from the specified one, or None.

    With `error_frames` (API Gateway targets) an error frame of the right kind is the
    specified answer too; the close codes remain right for the limits the gateway enforces.
    """
    expected = f"close {case.problem.ws_close_code}"
    if error_frames:
        expected += f" or an error frame of kind {case.problem.code!r}"
    if answer.close_code == case.problem.ws_close_code:
        return None if answer.reason else f"{case.name}: close {answer.close_code} without a reason"
    frame = answer.error_frame
    if error_frames and frame is not None:
        if frame.get("kind") != case.problem.code:
            return f"{case.name}: {answer.describe()}, expected kind {case.problem.code!r}"
        if not isinstance(frame.get("error"), str) or not frame["error"]:
            return f"{case.name}: {answer.describe()} without a non-empty 'error'"
        return None
    return f"{case.name}: {answer.describe()}, expected {expected}"


async def case_problem(ctx: CheckContext, room: str, case: FrameCase) -> str | None:
    """Send one case on a fresh connection; how the answer differs from the specified one."""
    error_frames = ctx.spec.ws_bad_input == "error-frame"
    url = endpoints.websocket_url(ctx.base_url, case.room or room)
    if case.since is not None:
        url += f"&since={case.since}"
    try:
        ws = await open_websocket(url)
    except SubscriptionError as exc:
        if error_frames and case.frame is None and HANDSHAKE_REFUSED.search(str(exc)):
            return None  # API Gateway: $connect refused the connection with a 4xx
        code = case.problem.ws_close_code
        return f"{case.name}: {exc} (expected an accepted connection closed {code})"
    try:
        if case.frame is not None:
            with contextlib.suppress(ConnectionClosed):  # closed already: reported below
                if case.as_text:
                    await send_text(ws, case.frame)
                else:
                    await ws.send(case.frame, text=False)
        answer = await await_answer(ws)
    finally:
        await ws.close()
    return answer_problem(case, answer, error_frames)


async def exact_size_problem(ctx: CheckContext, room: str) -> tuple[str | None, str | None]:
    """A message of exactly 128 KiB is allowed: it is delivered back to its sender.

    Returns (failure, finding). On an API Gateway target the delivered form (the publish plus
    `id` and `server_at`) exceeds the 128 KB post limit, so refusing it with `too_large` is the
    architecture's real limit: a finding to report, not a broken server.
    """
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
        await send_text(ws, frame)
        async with asyncio.timeout(IDLE_TIMEOUT_S):
            while True:
                echo = codec.loads(await ws.recv())
                if isinstance(echo, dict) and echo.get("sender") == "big":
                    return None, None
                if isinstance(echo, dict) and "error" in echo:
                    refusal = f"exactly 128 KiB: refused with {codec.dumps_str(echo)[:160]}"
                    if ctx.spec.ws_bad_input == "error-frame" and echo.get("kind") == "too_large":
                        return None, refusal + " (the architecture's limit on delivered size)"
                    return refusal + ", expected the echo", None
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd else None
        return f"exactly 128 KiB (allowed): closed {code}, expected the echo", None
    except TimeoutError:
        return f"exactly 128 KiB (allowed): no echo within {IDLE_TIMEOUT_S:g} s", None
    finally:
        await ws.close()


async def websocket_case_failures(ctx: CheckContext) -> tuple[int, list[str], list[str]]:
    """Send every case, each on its own connection; returns the count, failures, findings."""
    room = ctx.new_room("bad-input")
    cases = frame_cases(room, with_cursor=ctx.spec.supports_resume)
    failures: list[str] = []
    for case in cases:
        problem = await case_problem(ctx, room, case)
        if problem:
            failures.append(problem)
        unhealthy = await health_problem(ctx)
        if unhealthy:
            failures.append(f"after {case.name}: {unhealthy}")
            return len(cases), failures, []
    problem, finding = await exact_size_problem(ctx, room)
    if problem:
        failures.append(problem)
    return len(cases) + 1, failures, [finding] if finding else []
