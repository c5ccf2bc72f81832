"""Bad-input fuzzing of every HTTP target, each started once for this module.

Publish bodies, room names in the path, `since` / `wait` / Last-Event-ID, and requests cut off
mid-way: each answer must be the one docs/protocol.md specifies (status and `kind`), and after
all of it the server must be healthy, serve a fresh pair of clients and hold no connection.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance import endpoints
from conformance.checks.bad_input_http import HttpCase, answer_problem, http_case_failures
from contract import codec
from contract.messages import Problem
from contract.registry import TargetSpec
from tests.fuzz.conftest import (
    HTTP_TARGETS,
    Harness,
    close_abruptly,
    connect_raw,
    serves_after_fuzzing,
    start_harness,
)
from tests.fuzz.strategies import (
    CURSORS,
    FUZZ_SETTINGS,
    HEADER_CURSORS,
    INVALID_ROOMS,
    SIDE_SETTINGS,
    WAITS,
    Payload,
    cursor_is_valid,
    path_safe,
    publish_bodies,
    wait_is_valid,
)

pytestmark = pytest.mark.slow  # starts servers or runs: not in `make test-fast`

ROOM = "fuzz-http"
GOOD_BODY = codec.dumps({"sender": "u", "seq": 1, "body": "hi", "sent_at": 1.0})


@pytest.fixture(scope="module", params=HTTP_TARGETS, ids=lambda spec: spec.name)
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    """The target's server, started once for all of this module's tests."""
    spec: TargetSpec = request.param
    yield from start_harness(spec)


def _refusal(payload: Payload) -> tuple[int, str | None]:
    if payload.problem is None:
        return 201, None
    return payload.problem.http_status, payload.problem.code


@FUZZ_SETTINGS
@given(payload=publish_bodies(ROOM))
def test_publish_bodies_get_their_specified_answer(harness: Harness, payload: Payload):
    url = endpoints.messages_url(harness.root, ROOM)
    status, kind = _refusal(payload)
    case = HttpCase(payload.describe(), "POST", url, payload.data, status, kind)
    response = harness.http.post(url, content=payload.data)
    assert answer_problem(case, response) is None, answer_problem(case, response)
    if payload.problem is None:  # stored as sent
        sent, stored = codec.loads(payload.data), response.json()
        assert (stored["sender"], stored["seq"], stored["body"]) == (
            sent["sender"],
            sent["seq"],
            sent["body"],
        )


def _get(harness: Harness, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """A GET read no further than the head when it starts a stream (SSE)."""
    with harness.http.stream("GET", url, headers=headers) as response:
        if response.status_code != 200 or not response.headers.get("content-type", "").startswith(
            "text/event-stream"
        ):
            response.read()
        return response


def _subscribe_url(harness: Harness, room: str) -> str:
    """The family's subscriber GET: the poll, or the event stream."""
    if harness.spec.family == "sse":
        return endpoints.events_url(harness.root, room)
    return endpoints.messages_url(harness.root, room)


def _assert_answer(response: httpx.Response, status: int, kind: str | None, what: str) -> None:
    if status < 400:
        assert response.status_code == status, f"{what}: {response.status_code}"
        return
    case = HttpCase(what, "GET", str(response.request.url), None, status, kind)
    assert answer_problem(case, response) is None, answer_problem(case, response)


@SIDE_SETTINGS
@given(room=INVALID_ROOMS.filter(path_safe), publish=st.booleans())
def test_invalid_room_names_in_the_path_are_refused_400(harness: Harness, room: str, publish: bool):
    quoted = urllib.parse.quote(room, safe="")
    if publish:
        url = endpoints.messages_url(harness.root, quoted)
        response = harness.http.post(url, content=GOOD_BODY)
    else:
        response = _get(harness, _subscribe_url(harness, quoted))
    _assert_answer(response, 400, Problem.INVALID_ROOM.code, f"room {room!r}")


@SIDE_SETTINGS
@given(since=CURSORS)
def test_since_is_an_integer_or_refused_400(harness: Harness, since: str):
    url = _subscribe_url(harness, "fuzz-query") + "?since=" + urllib.parse.quote(since, safe="")
    valid = cursor_is_valid(since)
    _assert_answer(_get(harness, url), 200 if valid else 400, "invalid_field", f"since={since!r}")


@SIDE_SETTINGS
@given(wait=WAITS)
def test_wait_is_a_positive_number_or_refused_400(harness: Harness, wait: str):
    if harness.spec.family != "long-polling":
        pytest.skip("only long polling takes `wait`")
    url = endpoints.messages_url(harness.root, "fuzz-query")
    url += "?since=0&wait=" + urllib.parse.quote(wait, safe="")
    valid = wait_is_valid(wait)
    _assert_answer(_get(harness, url), 200 if valid else 400, "invalid_field", f"wait={wait!r}")


@SIDE_SETTINGS
@given(last_event_id=HEADER_CURSORS)
def test_last_event_id_is_an_integer_or_refused_400(harness: Harness, last_event_id: str):
    if harness.spec.family != "sse":
        pytest.skip("only SSE reads Last-Event-ID")
    url = endpoints.events_url(harness.root, "fuzz-query")
    stripped = last_event_id.strip(" \t")
    valid = not stripped or cursor_is_valid(stripped)  # blank: the header is ignored
    response = _get(harness, url, headers={"Last-Event-ID": last_event_id})
    _assert_answer(response, 200 if valid else 400, "invalid_field", f"{last_event_id!r}")


def _requests(harness: Harness) -> dict[str, bytes]:
    """Whole requests of every kind the target serves, to be cut short."""
    body = codec.dumps({"sender": "cut", "seq": 1, "body": "x" * 300, "sent_at": 1.0})
    return {
        "publish": (
            f"POST /rooms/{ROOM}/messages HTTP/1.1\r\nHost: fuzz\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body,
        "chunked publish": (
            f"POST /rooms/{ROOM}/messages HTTP/1.1\r\nHost: fuzz\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        ).encode()
        + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body),
        "subscribe": (
            f"GET {urllib.parse.urlsplit(_subscribe_url(harness, ROOM)).path}?since=0 HTTP/1.1"
            "\r\nHost: fuzz\r\n\r\n"
        ).encode(),
    }


@SIDE_SETTINGS
@given(
    kind=st.sampled_from(["publish", "chunked publish", "subscribe"]),
    fraction=st.floats(0, 1),
    reset=st.booleans(),
)
def test_requests_cut_off_midway_leave_the_server_serving(
    harness: Harness, kind: str, fraction: float, reset: bool
):
    request = _requests(harness)[kind]
    sock = connect_raw(harness)
    sock.sendall(request[: round(len(request) * fraction)])  # all of it: gone mid-response
    close_abruptly(sock, reset=reset)
    assert harness.healthy()


def test_the_conformance_cases_still_pass_after_fuzzing(harness: Harness):
    cases, failures = harness.run(http_case_failures(harness.ctx))
    assert failures == [], failures
    assert cases > 10


def test_afterwards_the_server_is_healthy_serves_new_clients_and_holds_nothing(
    harness: Harness,
):
    serves_after_fuzzing(harness)
