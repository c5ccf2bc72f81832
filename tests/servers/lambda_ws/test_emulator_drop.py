"""`--admin` on the emulator: `POST /_admin/drop` closes every client connection, 1001."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.sync.client import ClientConnection, connect

from contract.messages import decode_message
from servers import launch
from servers.lambda_ws import emulator as emulator_cli
from servers.lambda_ws.dynamodb_local import LocalDynamoDB
from tests.waiting import wait_until

from .conftest import Emulator, dynamodb_client, emulator_on, unique_room
from .events import frame

pytestmark = pytest.mark.timeout(120)

RECV_S = 30.0  # generous: a cold start on a loaded 2-core machine
TABLE = "tbench-connections"


@pytest.fixture(scope="module")
def emulator(
    tmp_path_factory: pytest.TempPathFactory, dynamodb: LocalDynamoDB
) -> Iterator[Emulator]:
    options = ("--max-workers", "2", "--admin")
    with emulator_on(dynamodb, tmp_path_factory.mktemp("drop"), *options) as running:
        yield running


@pytest.mark.parametrize(
    ("flags", "env", "admin"),
    [
        ((), None, False),
        (("--admin",), None, True),
        ((), "1", True),
        (("--admin",), "0", True),
    ],
)
def test_both_launchers_take_admin_alike(
    flags: tuple[str, ...], env: str | None, admin: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runner appends `--admin` to either launcher's argv; TBENCH_ADMIN is the fallback."""
    if env is None:
        monkeypatch.delenv("TBENCH_ADMIN", raising=False)
    else:
        monkeypatch.setenv("TBENCH_ADMIN", env)
    emulated = emulator_cli.parse_args(["servers.lambda_ws.handlers", "--port", "1", *flags])
    launched = launch.settings_from(launch.parse_args(["servers.sse:app", "--port", "1", *flags]))
    assert emulated.admin is launched.admin is admin


def http_root(emulator: Emulator) -> str:
    return f"http://{emulator.process.host}:{emulator.process.port}"


def stored_ids(dynamodb: LocalDynamoDB) -> set[str]:
    """Every connectionId in the connections table."""
    client = dynamodb_client(dynamodb)
    items = client.scan(TableName=TABLE)["Items"]
    return {item["connectionId"]["S"] for item in items}


def connected_ids(emulator: Emulator, room: str, count: int) -> set[str]:
    """The connectionIds of the `count` connections that joined `room`."""

    def ids() -> set[str] | None:
        found = {
            e["requestContext"]["connectionId"]
            for e in emulator.events()
            if e["requestContext"]["eventType"] == "CONNECT"
            and (e.get("queryStringParameters") or {}).get("room") == room
        }
        return found if len(found) == count else None

    result: set[str] = wait_until(ids, timeout_s=RECV_S)
    return result


def closed_with(client: ClientConnection) -> tuple[int, str]:
    """Wait for the server to close the connection; its close code and reason."""
    with pytest.raises(ConnectionClosed) as closed:
        client.recv(timeout=RECV_S)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


def receive_json(client: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(client.recv(timeout=RECV_S))
    return message


def test_drop_closes_every_client_1001_runs_disconnect_and_new_clients_chat(
    emulator: Emulator, dynamodb: LocalDynamoDB
) -> None:
    room = unique_room("drop")
    with connect(emulator.url(room)) as alice, connect(emulator.url(room)) as bob:
        ids = connected_ids(emulator, room, 2)
        wait_until(lambda: ids <= stored_ids(dynamodb), timeout_s=RECV_S)
        response = httpx.post(f"{http_root(emulator)}/_admin/drop", timeout=RECV_S)
        assert response.status_code == 200, response.text
        assert response.json() == {"dropped": 2, "connections": 2}
        assert closed_with(alice) == (CloseCode.GOING_AWAY, "Going away")
        assert closed_with(bob) == (CloseCode.GOING_AWAY, "Going away")

    def disconnects() -> list[dict[str, Any]] | None:
        found = [
            e["requestContext"]
            for e in emulator.events()
            if e["requestContext"]["eventType"] == "DISCONNECT"
            and e["requestContext"]["connectionId"] in ids
        ]
        return found if len(found) == 2 else None

    for context in wait_until(
        disconnects, timeout_s=RECV_S
    ):  # $disconnect ran, with the gateway's close
        assert (context["disconnectStatusCode"], context["disconnectReason"]) == (
            CloseCode.GOING_AWAY,
            "Going away",
        )
    wait_until(lambda: not ids & stored_ids(dynamodb), timeout_s=RECV_S)  # ... and forgot them
    stats = emulator.stats()
    assert stats["connections"] == 0
    assert stats["gateway"]["closed_by_drop"] == 2

    with connect(emulator.url(room)) as carol:
        carol.send(frame(room=room, sender="carol", seq=1, body="still here"))
        message = decode_message(receive_json(carol))
        assert (message.sender, message.body) == ("carol", "still here")


def test_drop_with_nobody_connected_closes_nothing(emulator: Emulator) -> None:
    wait_until(lambda: emulator.stats()["connections"] == 0, timeout_s=RECV_S)
    response = httpx.post(f"{http_root(emulator)}/_admin/drop", timeout=RECV_S)
    assert response.status_code == 200, response.text
    assert response.json() == {"dropped": 0, "connections": 0}
