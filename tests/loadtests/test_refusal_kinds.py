"""What a failed join or receive is called: the server's answers, and the socket's own errors
by when they happened (connecting, or on an open stream or poll)."""

from __future__ import annotations

import pytest
from websockets.frames import CloseCode

from loadtests.backoff import sse_retry_s
from loadtests.http_client import HttpConnectionError
from loadtests.refusals import Classified, HttpRefused, classify, http_refusal
from loadtests.websocket_client import HandshakeEnded, HandshakeRefused, WebSocketClosed


def wrapped(cause: Exception) -> HttpConnectionError:
    """As HttpConnection raises it: its own error, from the socket's."""
    try:
        raise HttpConnectionError("GET /rooms/r/messages: ...") from cause
    except HttpConnectionError as exc:
        return exc


@pytest.mark.parametrize(
    ("error", "connecting", "expected"),
    [
        (HttpRefused(503, {"retry-after": "5"}, b"{}"), True, Classified("http_503", 5.0)),
        (HttpRefused(429, {}, b""), True, Classified("http_429", None)),
        (HandshakeRefused("HTTP/1.1 429 Too Many Requests", 429, {}), True, Classified("http_429")),
        (
            HandshakeRefused("HTTP/1.1 500 Internal Server Error", 500, {}),
            True,
            Classified("throttled"),
        ),
        (
            WebSocketClosed(CloseCode.TRY_AGAIN_LATER, "try again later"),
            True,
            Classified("ws_1013"),
        ),
        (
            WebSocketClosed(CloseCode.ABNORMAL_CLOSURE, "connection lost"),
            False,
            Classified("reset"),
        ),
        (HandshakeEnded("connection closed during the handshake"), True, Classified("reset")),
        (EOFError("the server ended the stream"), False, Classified("reset")),
        (wrapped(ConnectionResetError(104, "reset")), False, Classified("reset")),
        (ConnectionRefusedError(111, "refused"), True, Classified("reset")),
        (wrapped(TimeoutError("timed out")), True, Classified("connect_timeout")),
        (wrapped(TimeoutError("timed out")), False, Classified("stalled")),
    ],
)
def test_failures_are_named_by_kind(error: Exception, connecting: bool, expected: Classified):
    assert classify(error, connecting=connecting) == expected


@pytest.mark.parametrize(
    "error",
    [
        HttpRefused(404, {}, b"not found"),  # an answer, but not a refusal
        WebSocketClosed(CloseCode.GOING_AWAY, "Going away"),
        ValueError("not a delivered message"),
    ],
)
def test_other_failures_are_no_refusal(error: Exception):
    assert classify(error, connecting=True) is None


def test_only_503_and_429_are_http_refusals():
    assert http_refusal(503, {"retry-after": "Thu, 01 Jan 1970 00:00:00 GMT"}) == ("http_503", 0.0)
    assert http_refusal(500, {"retry-after": "5"}) == (None, None)


@pytest.mark.parametrize(
    ("value", "seconds"), [(b" 2500", 2.5), (b"0", 0.0), (b"1.5", None), (b"", None), (b"x", None)]
)
def test_sse_retry_is_milliseconds_in_digits(value: bytes, seconds: float | None):
    assert sse_retry_s(value) == seconds
