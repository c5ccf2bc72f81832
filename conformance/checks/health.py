"""`GET /healthz` answers as specified, and a fresh client is served end to end."""

from __future__ import annotations

import httpx

from conformance import endpoints
from conformance.checks.common import (
    delivery_failure,
    member_troubles,
    publish_series,
    wait_all,
)
from conformance.context import CheckContext
from conformance.result import Outcome, failed, passed, warned
from contract import codec


async def health_problem(ctx: CheckContext) -> str | None:
    """Why `/healthz` is not `200 {"status": "ok", ...}` right now, or None."""
    url = endpoints.health_url(ctx.base_url)
    try:
        try:
            response = await ctx.http.get(url, timeout=5.0)
        except httpx.RemoteProtocolError:
            # closed unanswered: a pooled keep-alive connection the server (or nginx before
            # it) closed after the last answer, taken before its close arrived. A GET may be
            # sent again, once, on a new connection (RFC 9110 9.2.2), as browsers do.
            async with httpx.AsyncClient() as fresh:
                response = await fresh.get(url, timeout=5.0)
    except httpx.HTTPError as exc:
        return f"/healthz unreachable: {type(exc).__name__}: {exc}"
    if response.status_code != 200:
        return f"/healthz answered {response.status_code}"
    try:
        body = codec.loads(response.content)
    except codec.JSONDecodeError:
        return f"/healthz answered non-JSON {response.text[:80]!r}"
    if not isinstance(body, dict) or body.get("status") != "ok":
        return f"/healthz answered {response.text[:120]!r}"
    return None


async def roundtrip_problem(ctx: CheckContext, purpose: str) -> str | None:
    """Why two fresh members could not exchange a message, or None."""
    async with ctx.members(ctx.new_room(purpose), ["fresh1", "fresh2"]) as members:
        expected = await publish_series(members[0], "u1", 2)
        await wait_all(members, len(expected))
        return delivery_failure(members, expected) or member_troubles(members)


async def check_healthz(ctx: CheckContext) -> Outcome:
    """`200 {"status": "ok", "target": NAME, "connections": N}`."""
    problem = await health_problem(ctx)
    if problem:
        return failed(problem)
    body = codec.loads((await ctx.http.get(endpoints.health_url(ctx.base_url))).content)
    connections = body.get("connections")
    if not isinstance(connections, int) or isinstance(connections, bool) or connections < 0:
        return failed(f"/healthz connections is {connections!r}, not a count")
    if body.get("target") != ctx.spec.name:
        return warned(f"/healthz names target {body.get('target')!r}, not {ctx.spec.name!r}")
    return passed(f"status ok, target {ctx.spec.name!r}, {connections} connections")
