"""What a failed join or receive was, in the overload contract's words (`RefusalKind`).

Clients raise `Refusal` subclasses when the server answered (503, 429, close 1013, a
denied handshake); the socket's own errors (timeouts, resets, EOF) are read here. Which
timeout it was depends on when it happened: while connecting it is a silent refusal
(`connect_timeout`), on an open stream or poll it is a `stalled` one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from geventhttpclient.response import HTTPConnectionClosed, HTTPParseError

from contract.overload import RefusalKind
from loadtests.backoff import retry_after_s

SERVICE_UNAVAILABLE = 503
TOO_MANY_REQUESTS = 429
MAX_CHAIN = 8  # how far down __cause__ / __context__ a wrapped error is looked for


class Refusal(Exception):
    """A failure the client could name: `kind` (None: a failure, but not a refusal) and the
    server's hint for the next try in seconds (None: none given)."""

    kind: RefusalKind | None = None
    hint_s: float | None = None


class HttpRefused(Refusal):
    """A subscribing GET answered with something other than 200 (a 503 or 429 is a refusal,
    with its Retry-After as the hint)."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.kind, self.hint_s = http_refusal(status, headers)
        super().__init__(f"{status}: {body[:200]!r}")


@dataclass(frozen=True, slots=True)
class Classified:
    """A failure's refusal kind and the server's hint (s) for the next try, if any."""

    kind: RefusalKind
    hint_s: float | None = None


def http_refusal(
    status: int, headers: Mapping[str, str]
) -> tuple[RefusalKind | None, float | None]:
    """(kind, hint) of an HTTP answer: 503 and 429 are refusals, with `Retry-After` (lower-case
    header names) as the hint; any other status is (None, None)."""
    kind: RefusalKind
    if status == SERVICE_UNAVAILABLE:
        kind = "http_503"
    elif status == TOO_MANY_REQUESTS:
        kind = "http_429"
    else:
        return None, None
    return kind, retry_after_s(headers.get("retry-after"))


def classify(exc: BaseException, *, connecting: bool) -> Classified | None:
    """The refusal `exc` was (looking through wrapped causes), or None if it was none.

    `connecting`: whether it happened while connecting or subscribing (a timeout there is
    `connect_timeout`; on an open stream or poll, `stalled`).
    """
    seen: BaseException | None = exc
    for _ in range(MAX_CHAIN):
        if seen is None:
            return None
        if isinstance(seen, Refusal):
            return None if seen.kind is None else Classified(seen.kind, seen.hint_s)
        if isinstance(seen, TimeoutError):
            return Classified("connect_timeout" if connecting else "stalled")
        if isinstance(seen, ConnectionError | EOFError | HTTPConnectionClosed):
            return Classified("reset")
        if isinstance(seen, HTTPParseError) and "closed" in str(seen):
            # geventhttpclient: "connection closed before end of the headers"
            return Classified("reset")
        seen = seen.__cause__ or seen.__context__
    return None
