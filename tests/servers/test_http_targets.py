from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from contract import codec
from contract.messages import (
    HISTORY_MAX_AGE_S_DEFAULT,
    HISTORY_SIZE_DEFAULT,
    MAX_MESSAGE_BYTES,
    decode_message,
)
from tbench.process import TargetProcess
from tests.servers.helpers import (
    TIMEOUT,
    connections,
    event_stream,
    http_root,
    new_room,
    payload,
    publish,
)
from tests.waiting import wait_until, wait_until_async

pytestmark = pytest.mark.slow  # starts servers or runs: not in `make test-fast`


@pytest.mark.parametrize("name", ["short-polling", "long-polling", "sse", "websocket"])
def test_healthz_names_the_target(name: str, request: pytest.FixtureRequest):
    server: TargetProcess = request.getfixturevalue(name.replace("-", "_"))
    response = httpx.get(f"{http_root(server)}/healthz", timeout=TIMEOUT)
    assert response.status_code == 200
    body = response.json()
    retained = body.pop("retained")  # what earlier tests on this server left in history
    assert isinstance(retained, int)
    assert retained >= 0
    # a push target also says its queue, SSE its keep-alive (the fixture's): for verify of a
    # server at a URL
    told = {"sse": {"queue_size": 1024, "sse_ping_s": 0.3}, "websocket": {"queue_size": 1024}}
    assert body == {
        "status": "ok",
        "target": name,
        "connections": 0,
        "history_size": HISTORY_SIZE_DEFAULT,
        "history_max_age_s": HISTORY_MAX_AGE_S_DEFAULT,
        **told.get(name, {}),
    }


def test_publish_answers_201_with_the_stored_message(http_target: TargetProcess):
    room = new_room()
    before = time.time()
    first = publish(http_target, room, seq=1, body="hi", room=room)
    second = publish(http_target, room, seq=2)
    assert list(first) == ["id", "room", "sender", "seq", "body", "sent_at", "server_at"]
    assert (first["id"], second["id"]) == (1, 2)
    assert (first["room"], first["sender"], first["seq"], first["body"]) == (room, "alice", 1, "hi")
    assert first["server_at"] >= before - 1
    assert publish(http_target, new_room())["id"] == 1  # ids count per room


def _error_cases(room: str) -> list[tuple[str, str, bytes | None, int, str]]:
    good = {"sender": "u", "seq": 1, "body": "b", "sent_at": 1.0}
    seq_as_text = codec.dumps({**good, "seq": "1"})
    other_room = codec.dumps({**good, "room": "x"})
    return [
        ("POST", "/rooms/bad.room/messages", codec.dumps(good), 400, "invalid_room"),
        ("POST", f"/rooms/{'a' * 65}/messages", codec.dumps(good), 400, "invalid_room"),
        ("POST", f"/rooms/{room}/messages", b"", 400, "empty"),
        ("POST", f"/rooms/{room}/messages", b'{"sender": "\xff"}', 400, "not_utf8"),
        ("POST", f"/rooms/{room}/messages", b'{"sender": ', 400, "not_json"),
        ("POST", f"/rooms/{room}/messages", b"[1, 2]", 422, "invalid_field"),
        ("POST", f"/rooms/{room}/messages", seq_as_text, 422, "invalid_field"),
        ("POST", f"/rooms/{room}/messages", other_room, 422, "invalid_field"),
        ("POST", f"/rooms/{room}/messages", b"x" * (MAX_MESSAGE_BYTES + 1), 413, "too_large"),
        ("GET", "/no/such/path", None, 404, "not_found"),
        ("DELETE", f"/rooms/{room}/messages", None, 405, "method_not_allowed"),
    ]


def test_bad_requests_get_the_protocol_status_and_json_error(http_target: TargetProcess):
    room = new_room()
    with httpx.Client(base_url=http_root(http_target), timeout=TIMEOUT) as client:
        for method, path, content, status, kind in _error_cases(room):
            response = client.request(method, path, content=content)
            assert response.status_code == status, (path, content, response.text)
            body = response.json()
            assert body["kind"] == kind, (path, content, body)
            assert isinstance(body["error"], str)
            assert body["error"]
            assert "field" in body
        assert client.get("/healthz").status_code == 200


def test_missing_field_is_named(http_target: TargetProcess):
    response = httpx.post(
        f"{http_root(http_target)}/rooms/{new_room()}/messages",
        content=codec.dumps({"sender": "u", "seq": 1, "sent_at": 1.0}),
        timeout=TIMEOUT,
    )
    assert response.status_code == 422
    assert response.json()["field"] == "body"


def test_chunked_body_over_the_limit_is_refused_while_streaming(http_target: TargetProcess):
    def chunks():
        for _ in range(40):  # 40 x 8 KiB = 320 KiB, no Content-Length
            yield b"x" * 8192

    response = httpx.post(
        f"{http_root(http_target)}/rooms/{new_room()}/messages", content=chunks(), timeout=TIMEOUT
    )
    assert response.status_code == 413
    assert response.json()["kind"] == "too_large"


def test_exactly_128_kib_is_accepted(http_target: TargetProcess):
    unpadded = len(payload(body="", sent_at=1.5))
    body = payload(body="x" * (MAX_MESSAGE_BYTES - unpadded), sent_at=1.5)
    assert len(body) == MAX_MESSAGE_BYTES
    response = httpx.post(
        f"{http_root(http_target)}/rooms/{new_room()}/messages", content=body, timeout=TIMEOUT
    )
    assert response.status_code == 201


def test_websocket_target_has_no_http_publish(websocket: TargetProcess):
    response = httpx.post(
        f"{http_root(websocket)}/rooms/{new_room()}/messages", content=payload(), timeout=TIMEOUT
    )
    assert response.status_code == 404
    assert response.json()["kind"] == "not_found"


@pytest.mark.parametrize("name", ["short-polling", "long-polling"])
def test_poll_resumes_from_since(name: str, request: pytest.FixtureRequest):
    server: TargetProcess = request.getfixturevalue(name.replace("-", "_"))
    room = new_room()
    url = f"{http_root(server)}/rooms/{room}/messages"
    assert httpx.get(url, timeout=TIMEOUT).json() == {"messages": [], "last_id": 0}
    for seq in range(1, 4):
        publish(server, room, seq)
    assert httpx.get(url, timeout=TIMEOUT).json() == {"messages": [], "last_id": 3}
    body = httpx.get(url, params={"since": 1}, timeout=TIMEOUT).json()
    assert [m["seq"] for m in body["messages"]] == [2, 3]
    assert body["last_id"] == 3
    for message in body["messages"]:
        decode_message(message)
    # A cursor ahead of the room (server restarted) counts as 0.
    stale = httpx.get(url, params={"since": 50}, timeout=TIMEOUT).json()
    assert [m["id"] for m in stale["messages"]] == [1, 2, 3]
    for bad in ("abc", "-1", "1.5", ""):
        response = httpx.get(url, params={"since": bad}, timeout=TIMEOUT)
        assert response.status_code == 400, bad
        assert response.json()["kind"] == "invalid_field"
        assert response.json()["field"] == "since"
    response = httpx.get(f"{http_root(server)}/rooms/bad.room/messages", timeout=TIMEOUT)
    assert (response.status_code, response.json()["kind"]) == (400, "invalid_room")


async def held(client: httpx.AsyncClient, server: TargetProcess) -> None:
    """Return once the server holds one poll."""

    async def holds_one() -> bool:
        health = await client.get(f"{http_root(server)}/healthz")
        return bool(health.json()["connections"] == 1)

    await wait_until_async(holds_one, "the server holding the poll")


def test_long_poll_is_held_until_a_message_arrives(long_polling: TargetProcess):
    room = new_room()
    url = f"{http_root(long_polling)}/rooms/{room}/messages"

    async def scenario() -> dict[str, object]:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            poll = asyncio.create_task(client.get(url, params={"since": 0, "wait": 30}))
            await held(client, long_polling)
            assert not poll.done()
            published = await client.post(url, content=payload(seq=1))
            assert published.status_code == 201
            response = await poll
            assert response.status_code == 200
            body: dict[str, object] = response.json()
            return body

    body = asyncio.run(asyncio.wait_for(scenario(), timeout=20))
    assert body["last_id"] == 1
    assert [m["seq"] for m in body["messages"]] == [1]  # type: ignore[attr-defined]
    wait_until(lambda: connections(long_polling) == 0)


def test_long_poll_without_since_waits_for_the_next_message(long_polling: TargetProcess):
    room = new_room()
    publish(long_polling, room, seq=1)
    url = f"{http_root(long_polling)}/rooms/{room}/messages"

    async def scenario() -> list[int]:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            poll = asyncio.create_task(client.get(url, params={"wait": 30}))
            await held(client, long_polling)
            await client.post(url, content=payload(seq=2))
            return [m["seq"] for m in (await poll).json()["messages"]]

    assert asyncio.run(asyncio.wait_for(scenario(), timeout=20)) == [2]


def test_long_poll_times_out_empty_and_wait_is_capped(long_polling: TargetProcess):
    room = new_room()
    publish(long_polling, room)
    url = f"{http_root(long_polling)}/rooms/{room}/messages"
    # This server caps waits at 2 s: a wait of an hour still answers, empty, well within 10 s.
    response = httpx.get(url, params={"since": 1, "wait": 3600}, timeout=TIMEOUT)
    assert response.json() == {"messages": [], "last_id": 1}
    for bad in ("0", "-1", "soon", "nan", "inf"):
        response = httpx.get(url, params={"since": 1, "wait": bad}, timeout=TIMEOUT)
        assert response.status_code == 400, bad
        assert response.json()["field"] == "wait"


def test_sse_delivers_events_with_ids(sse: TargetProcess):
    room = new_room()
    with event_stream(sse, room) as stream:
        assert connections(sse) == 1
        stored = publish(sse, room, seq=1, body="over sse")
        event = stream.next_event()
        assert event["id"] == "1"
        assert codec.loads(event["data"]) == stored
    wait_until(lambda: connections(sse) == 0)


def test_sse_resumes_from_last_event_id_over_since(sse: TargetProcess):
    room = new_room()
    for seq in range(1, 5):
        publish(sse, room, seq)
    with event_stream(sse, room, since=1, headers={"Last-Event-ID": "2"}) as stream:
        assert [stream.next_event()["id"] for _ in range(2)] == ["3", "4"]
        publish(sse, room, 5)
        assert stream.next_event()["id"] == "5"
    with event_stream(sse, room, since=3) as stream:
        assert stream.next_event()["id"] == "4"


def test_sse_sends_keep_alive_comments(sse: TargetProcess):
    with event_stream(sse, new_room()) as stream:  # this server pings every 0.3 s
        assert stream.next_comment() == ": ping"


def test_sse_rejects_bad_input_before_the_stream(sse: TargetProcess):
    root = http_root(sse)
    response = httpx.get(f"{root}/rooms/bad.room/events", timeout=TIMEOUT)
    assert (response.status_code, response.json()["kind"]) == (400, "invalid_room")
    response = httpx.get(
        f"{root}/rooms/{new_room()}/events", headers={"Last-Event-ID": "x"}, timeout=TIMEOUT
    )
    assert (response.status_code, response.json()["field"]) == (400, "Last-Event-ID")
