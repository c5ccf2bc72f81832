"""The emulator as a real process: real websockets clients, real boto3, dynalite (DynamoDB)."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import CloseCode
from websockets.sync.client import ClientConnection, connect

from contract.lambda_report import EmulatorRecord, LambdaReport, billed_duration_ms
from contract.messages import decode_message
from servers.lambda_ws.dynamodb_local import LocalDynamoDB
from tests.waiting import wait_until

from .conftest import Emulator, dynamodb_client, emulator_on, unique_room
from .events import fixture, frame

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

RECV_S = 30.0  # generous: a cold start on a loaded 2-core machine
TABLE = "tbench-connections"


@pytest.fixture(scope="module")
def emulator(
    tmp_path_factory: pytest.TempPathFactory, dynamodb: LocalDynamoDB
) -> Iterator[Emulator]:
    options = ("--max-workers", "6")
    with emulator_on(dynamodb, tmp_path_factory.mktemp("emulator"), *options) as running:
        yield running


@pytest.fixture
def table(dynamodb: LocalDynamoDB) -> Any:
    """The connections table in the local DynamoDB, through boto3."""
    return dynamodb_client(dynamodb)


def receive_json(client: ClientConnection) -> dict[str, Any]:
    """The next text message, parsed."""
    message: dict[str, Any] = json.loads(client.recv(timeout=RECV_S))
    return message


def send_in_frames(client: ClientConnection, text: str, frame_chars: int = 30_000) -> None:
    """Send one text message as several frames of at most 32 KB (API Gateway's limit)."""
    client.send([text[i : i + frame_chars] for i in range(0, len(text), frame_chars)])


def close_code(client: ClientConnection, sending: str | None = None) -> int | None:
    """Send `sending` in frames, if given, then wait for the server to close the connection;
    its close code. A close while the frames go out counts: the server may cut a message off
    before its last frame is written (on a loaded machine it did)."""
    try:
        if sending is not None:
            send_in_frames(client, sending)
        message = client.recv(timeout=RECV_S)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    pytest.fail(f"the connection stayed open and delivered {message!r:.200}")


def test_two_clients_in_a_room_both_receive_the_message_with_id_null(emulator: Emulator) -> None:
    room = unique_room("e2e")
    with connect(emulator.url(room)) as alice, connect(emulator.url(room)) as bob:
        alice.send(frame(room=room, sender="alice", seq=1, body="hello bob"))
        for client in (alice, bob):
            message = decode_message(receive_json(client))
            assert message.id is None
            assert (message.room, message.sender, message.seq) == (room, "alice", 1)
            assert message.body == "hello bob"
            assert message.server_at >= message.sent_at


def test_an_invalid_room_is_rejected_at_the_handshake_with_400(emulator: Emulator) -> None:
    with pytest.raises(InvalidStatus) as rejected:
        connect(emulator.url("not%20a%20room"))
    assert rejected.value.response.status_code == 400


def test_unroutable_frames_get_an_error_frame_from_default(emulator: Emulator) -> None:
    with connect(emulator.url(unique_room("default"))) as client:
        client.send("not json at all")
        assert receive_json(client)["kind"] == "not_json"
        client.send(json.dumps({"action": "shout"}))
        assert receive_json(client)["kind"] == "unknown_action"


REQUEST_TIME = re.compile(r"\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000")


def assert_same_shape(event: dict[str, Any], expected: dict[str, Any], path: str = "") -> None:
    """Same keys, same JSON types, recursively into requestContext and identity."""
    assert set(event) == set(expected), path
    for key in ("requestContext", "identity"):
        if key in expected:
            assert_same_shape(event[key], expected[key], f"{path}.{key}")
    for key, value in expected.items():
        if key not in ("headers", "multiValueHeaders"):
            assert type(event[key]) is type(value), f"{path}.{key}"


def test_events_have_the_shape_aws_sends(emulator: Emulator) -> None:
    room = unique_room("shapes")
    with connect(emulator.url(room), user_agent_header="tbench-test/1.0") as client:
        client.send(frame(room=room))
        receive_json(client)
        client.send("to the default route")
        receive_json(client)
        connection_id = emulator.connection_id(room)

    def all_four_events() -> list[dict[str, Any]] | None:
        events = emulator.events()
        mine = [e for e in events if e["requestContext"]["connectionId"] == connection_id]
        return mine if len(mine) == 4 else None

    mine = wait_until(all_four_events, timeout_s=RECV_S)
    connected, message, default, disconnected = mine
    assert_same_shape(connected, fixture("connect"))
    assert_same_shape(message, fixture("message"))
    assert_same_shape(default, fixture("message"))
    assert_same_shape(disconnected, fixture("disconnect"))

    kinds = [(e["requestContext"]["eventType"], e["requestContext"]["routeKey"]) for e in mine]
    assert kinds == [
        ("CONNECT", "$connect"),
        ("MESSAGE", "sendMessage"),
        ("MESSAGE", "$default"),
        ("DISCONNECT", "$disconnect"),
    ]
    domain = f"{emulator.process.host}:{emulator.process.port}"
    connected_at = connected["requestContext"]["connectedAt"]
    for event in mine:
        context = event["requestContext"]
        assert context["stage"] == "local"
        assert context["domainName"] == domain
        assert context["messageDirection"] == "IN"
        assert context["connectedAt"] == connected_at
        assert context["requestTimeEpoch"] >= connected_at
        assert REQUEST_TIME.fullmatch(context["requestTime"])
        assert context["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "tbench-test/1.0"}
        assert event["isBase64Encoded"] is False
    assert len({e["requestContext"]["requestId"] for e in mine}) == 4
    assert message["requestContext"]["messageId"] != default["requestContext"]["messageId"]
    assert json.loads(message["body"])["room"] == room
    assert connected["queryStringParameters"] == {"room": room}
    assert connected["headers"]["Host"] == domain
    assert "Sec-WebSocket-Key" in connected["headers"]
    assert not {"connection", "upgrade"} & {name.lower() for name in connected["headers"]}
    assert disconnected["requestContext"]["disconnectStatusCode"] == CloseCode.NORMAL_CLOSURE


def test_management_api_answers_boto3(emulator: Emulator) -> None:
    room = unique_room("manage")
    management = emulator.management()
    with connect(emulator.url(room), user_agent_header="tbench-test/1.0") as client:
        connection_id = emulator.connection_id(room)

        management.post_to_connection(ConnectionId=connection_id, Data=b'{"hello": 1}')
        assert receive_json(client) == {"hello": 1}

        described = management.get_connection(ConnectionId=connection_id)
        assert described["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "tbench-test/1.0"}
        assert described["ConnectedAt"] <= described["LastActiveAt"]

        with pytest.raises(ClientError) as too_large:
            management.post_to_connection(ConnectionId=connection_id, Data=b"x" * (128 * 1024 + 1))
        assert too_large.value.response["Error"]["Code"] == "PayloadTooLargeException"
        assert too_large.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413

        deleted = management.delete_connection(ConnectionId=connection_id)
        assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
        close_code(client)

    for call in (management.post_to_connection, management.get_connection):
        kwargs: dict[str, Any] = {"ConnectionId": connection_id}
        if call == management.post_to_connection:
            kwargs["Data"] = b"late"
        with pytest.raises(ClientError) as gone:
            call(**kwargs)
        assert gone.value.response["Error"]["Code"] == "GoneException"
        assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410


def test_a_gone_recipient_is_deleted_and_the_sender_is_kept(emulator: Emulator, table: Any) -> None:
    room = unique_room("stale")
    # A connection whose $disconnect never ran: its record outlived it.
    table.put_item(TableName=TABLE, Item={"connectionId": {"S": "ghost="}, "room": {"S": room}})
    with connect(emulator.url(room)) as alice, connect(emulator.url(room)) as bob:
        alice_id = emulator.connection_id(room)
        alice.send(frame(room=room, sender="alice"))
        assert receive_json(alice)["sender"] == "alice"
        assert receive_json(bob)["sender"] == "alice"

        def members() -> set[str]:
            page = table.query(
                TableName=TABLE,
                IndexName="room-index",
                KeyConditionExpression="room = :room",
                ExpressionAttributeValues={":room": {"S": room}},
            )
            return {item["connectionId"]["S"] for item in page["Items"]}

        def members_once_the_ghost_is_gone() -> set[str] | None:
            ids = members()
            return ids if "ghost=" not in ids else None

        remaining = wait_until(members_once_the_ghost_is_gone, timeout_s=RECV_S)
        assert alice_id in remaining
        assert len(remaining) == 2  # alice and bob, both still members
    assert emulator.stats()["gateway"]["posts_gone"] >= 1


def test_frames_over_32_kb_close_the_connection_with_1009(emulator: Emulator) -> None:
    room = unique_room("frames")
    with connect(emulator.url(room)) as client:
        client.send(frame(room=room, body="x" * 40_000))  # one 40 KB frame
        assert close_code(client) == CloseCode.MESSAGE_TOO_BIG


def test_a_large_message_in_32_kb_frames_is_accepted_and_delivered(emulator: Emulator) -> None:
    room = unique_room("fragments")
    with connect(emulator.url(room)) as client:
        send_in_frames(client, frame(room=room, body="y" * 100_000))
        assert len(receive_json(client)["body"]) == 100_000


def test_invalid_utf8_text_closes_the_connection_with_1007_and_a_reason(
    emulator: Emulator,
) -> None:
    with connect(emulator.url(unique_room("utf8"))) as client:
        client.send(b'{"action": "sendMessage", "body": "\xff"}', text=True)
        with pytest.raises(ConnectionClosed) as closed:
            client.recv(timeout=RECV_S)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == CloseCode.INVALID_DATA
    assert closed.value.rcvd.reason


def test_a_client_that_stops_reading_is_dropped_and_disconnected(emulator: Emulator) -> None:
    room = unique_room("slow")
    management = emulator.management()
    # A reader that never reads: a tiny receive window and a one-message client queue.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((emulator.process.host, emulator.process.port))
    with connect(emulator.url(room), sock=sock, max_queue=1):
        stalled_id = emulator.connection_id(room)

        def stalled_is_gone() -> bool:
            try:
                management.get_connection(ConnectionId=stalled_id)
            except ClientError as exc:
                return exc.response["Error"]["Code"] == "GoneException"
            return False

        with connect(emulator.url(room)) as publisher:
            for seq in range(1, 101):  # at most 12 MB, in messages of 120 KB
                send_in_frames(publisher, frame(room=room, sender="p", seq=seq, body="s" * 120_000))
                assert receive_json(publisher)["seq"] == seq  # paced by its own echo
                if stalled_is_gone():
                    break
            wait_until(stalled_is_gone, timeout_s=RECV_S)
    stats = emulator.stats()["gateway"]
    assert stats["posts_limited"] >= 1  # 429: the client-side buffer was full
    assert stats["closed_by_delete"] >= 1  # the handler dropped it


def test_messages_over_128_kb_close_the_connection_with_1009(emulator: Emulator) -> None:
    room = unique_room("huge")
    with connect(emulator.url(room)) as client:
        assert (
            close_code(client, sending=frame(room=room, body="z" * 140_000))
            == CloseCode.MESSAGE_TOO_BIG
        )


def reports_by_environment(report_log: Path) -> dict[str, list[LambdaReport]]:
    """REPORT lines grouped by the environment that served them, in order."""
    lines = report_log.read_text().splitlines()
    environment_of = {
        record.request_id: record.environment
        for record in map(EmulatorRecord.parse, lines)
        if record is not None
    }
    grouped: dict[str, list[LambdaReport]] = {}
    for report in map(LambdaReport.parse, lines):
        if report is not None and report.status is None:
            grouped.setdefault(environment_of[report.request_id], []).append(report)
    return grouped


def test_a_cold_start_then_warm_reuse(emulator: Emulator) -> None:
    for _ in range(3):  # one after another: the same environment serves each $connect
        with connect(emulator.url(unique_room("warm"))):
            pass
    grouped = wait_until(lambda: reports_by_environment(emulator.report_log), timeout_s=RECV_S)
    for reports in grouped.values():
        assert reports[0].init_duration_ms is not None
        assert reports[0].init_duration_ms > 0
        assert all(report.init_duration_ms is None for report in reports[1:])
        for report in reports:
            # since 2025-08-01 a cold start's Billed Duration includes its Init Duration
            init_ms = report.init_duration_ms or 0.0
            # the line prints each duration to 0.01 ms; billing rounds up the unrounded sum
            total_ms = report.duration_ms + init_ms
            assert report.billed_duration_ms in {
                billed_duration_ms(total_ms - 0.01),
                billed_duration_ms(total_ms + 0.01),
            }
            assert report.memory_size_mb == 256
    assert any(len(reports) >= 3 for reports in grouped.values())  # reused, warm
    stats = emulator.stats()["lambda"]
    assert stats["cold_starts"] == stats["environments_started"] == len(grouped)
    assert stats["throttles"] == 0


def test_there_is_no_admin_endpoint_unless_asked(emulator: Emulator) -> None:
    base = f"http://{emulator.process.host}:{emulator.process.port}"
    assert httpx.post(f"{base}/_admin/drop", timeout=RECV_S).status_code == 404
