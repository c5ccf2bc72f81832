"""Bad-input cases over HTTP: status, JSON `{"error", "kind"}` body, health after each."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from conformance import endpoints
from conformance.checks.health import health_problem
from conformance.context import CheckContext
from contract import codec
from contract.messages import MAX_MESSAGE_BYTES, Problem

ANSWER_TIMEOUT_S = 5.0
BAD_ROOMS = ("bad.room", "a" * 65)


@dataclass(frozen=True)
class HttpCase:
    """One bad request and the answer the protocol specifies for it."""

    name: str
    method: str
    url: str
    content: bytes | None
    status: int
    kind: str | None  # None: a success, no error body expected


def _refused(name: str, method: str, url: str, content: bytes | None, problem: Problem) -> HttpCase:
    return HttpCase(name, method, url, content, problem.http_status, problem.code)


def exact_size_payload(fields: dict[str, Any], size: int) -> bytes:
    """A JSON publish payload padded (in its body) to exactly `size` bytes."""
    unpadded = len(codec.dumps({**fields, "body": ""}))
    return codec.dumps({**fields, "body": "x" * (size - unpadded)})


def http_cases(ctx: CheckContext) -> list[HttpCase]:
    """The cases of the protocol's error table that apply to the target's family."""
    room = ctx.new_room("bad-input")
    url = endpoints.messages_url(ctx.base_url, room)
    good: dict[str, Any] = {"sender": "u1", "seq": 1, "body": "hi", "sent_at": time.time()}
    without_body = {k: v for k, v in good.items() if k != "body"}
    cases = [
        _refused("malformed JSON", "POST", url, b'{"sender": "u1", "seq": ', Problem.NOT_JSON),
        _refused(
            "seq of wrong type",
            "POST",
            url,
            codec.dumps({**good, "seq": "1"}),
            Problem.INVALID_FIELD,
        ),
        _refused(
            "missing body field", "POST", url, codec.dumps(without_body), Problem.INVALID_FIELD
        ),
        _refused("JSON array, not object", "POST", url, b"[1, 2]", Problem.INVALID_FIELD),
        _refused(
            "room differs from the URL's",
            "POST",
            url,
            codec.dumps({**good, "room": f"{room}x"}),
            Problem.INVALID_FIELD,
        ),
        *(
            _refused(
                f"invalid room {bad[:12]!r}",
                "POST",
                endpoints.messages_url(ctx.base_url, bad),
                codec.dumps(good),
                Problem.INVALID_ROOM,
            )
            for bad in BAD_ROOMS
        ),
        _refused("not UTF-8", "POST", url, b'{"sender": "u\xff", "seq": 1}', Problem.NOT_UTF8),
        _refused("empty body", "POST", url, b"", Problem.EMPTY),
        _refused(
            "over 128 KiB",
            "POST",
            url,
            exact_size_payload(good, MAX_MESSAGE_BYTES + 1),
            Problem.TOO_LARGE,
        ),
        HttpCase(
            "exactly 128 KiB (allowed)",
            "POST",
            url,
            exact_size_payload(good, MAX_MESSAGE_BYTES),
            201,
            None,
        ),
        HttpCase(
            "unknown path",
            "GET",
            f"{endpoints.http_root(ctx.base_url)}/no/such/path",
            None,
            404,
            "not_found",
        ),
        HttpCase("unknown method", "DELETE", url, None, 405, "method_not_allowed"),
    ]
    if ctx.spec.family in ("short-polling", "long-polling"):
        cases += [
            # protocol.md: a bad `since` is 400 invalid_field (a query, not a body field: not 422)
            HttpCase("since not an integer", "GET", f"{url}?since=abc", None, 400, "invalid_field"),
            HttpCase("negative since", "GET", f"{url}?since=-1", None, 400, "invalid_field"),
            _refused(
                "poll of an invalid room",
                "GET",
                endpoints.messages_url(ctx.base_url, BAD_ROOMS[0]),
                None,
                Problem.INVALID_ROOM,
            ),
        ]
    if ctx.spec.family == "long-polling":
        cases += [
            HttpCase(
                f"wait={wait}", "GET", f"{url}?since=0&wait={wait}", None, 400, "invalid_field"
            )
            for wait in ("abc", "0", "-1", "inf")
        ]
    if ctx.spec.family == "sse":
        cases.append(
            _refused(
                "event stream of an invalid room",
                "GET",
                endpoints.events_url(ctx.base_url, BAD_ROOMS[0]),
                None,
                Problem.INVALID_ROOM,
            )
        )
    return cases


def answer_problem(case: HttpCase, response: httpx.Response) -> str | None:
    """How the answer differs from the specified one, or None."""
    answered = f"{response.status_code} {response.text[:100]!r}"
    if response.status_code != case.status:
        want = f"{case.status} {case.kind}" if case.kind else str(case.status)
        return f"{case.name}: answered {answered}, expected {want}"
    if case.status < 400:
        return None
    try:
        body = codec.loads(response.content)
    except codec.JSONDecodeError:
        return f"{case.name}: answered {answered}, not a JSON error body"
    if not isinstance(body, dict) or not isinstance(body.get("error"), str) or not body["error"]:
        return f"{case.name}: answered {answered}, without a non-empty 'error'"
    if case.kind is not None and body.get("kind") != case.kind:
        return f"{case.name}: kind {body.get('kind')!r}, expected {case.kind!r}"
    return None


async def http_case_failures(ctx: CheckContext) -> tuple[int, list[str]]:
    """Send every case; returns the case count and what went wrong."""
    cases = http_cases(ctx)
    failures: list[str] = []
    for case in cases:
        headers = {"Content-Type": "application/json"} if case.content is not None else {}
        try:
            response = await ctx.http.request(
                case.method,
                case.url,
                content=case.content,
                headers=headers,
                timeout=ANSWER_TIMEOUT_S,
            )
        except httpx.HTTPError as exc:
            failures.append(f"{case.name}: no answer ({type(exc).__name__}: {exc})")
        else:
            problem = answer_problem(case, response)
            if problem:
                failures.append(problem)
        unhealthy = await health_problem(ctx)
        if unhealthy:
            failures.append(f"after {case.name}: {unhealthy}")
            break
    return len(cases), failures
