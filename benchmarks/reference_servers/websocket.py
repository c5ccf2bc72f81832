"""Reference WebSocket server: websockets' own asyncio server and `broadcast()`, uvloop, orjson.

`WS /ws?room=R[&since=ID]` and `GET /healthz` of docs/protocol.md; no validation, no queues.
"""

from __future__ import annotations

import argparse
import collections
import http
import time
from urllib.parse import parse_qs, urlsplit

import orjson
import uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

HISTORY = 10_000


class Room:
    """Members, the next id and a history ring of the serialized messages."""

    def __init__(self) -> None:
        self.members: set[ServerConnection] = set()
        self.last_id = 0
        self.ring: collections.deque[bytes] = collections.deque(maxlen=HISTORY)


rooms: collections.defaultdict[str, Room] = collections.defaultdict(Room)
open_connections = 0


def healthz(connection: ServerConnection, request: Request) -> Response | None:
    """Answer `GET /healthz` over plain HTTP; let everything else upgrade."""
    if urlsplit(request.path).path != "/healthz":
        return None
    body = orjson.dumps({"status": "ok", "target": "websocket", "connections": open_connections})
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return Response(http.HTTPStatus.OK, "OK", headers, body)


async def handler(connection: ServerConnection) -> None:
    """Backlog after the cursor, then publish each frame to the room (the sender included)."""
    global open_connections
    assert connection.request is not None
    query = parse_qs(urlsplit(connection.request.path).query)
    room = rooms[query["room"][0]]
    since = query.get("since")
    if since is not None:
        cursor = int(since[0])
        cursor = 0 if cursor > room.last_id else cursor
        newer = min(room.last_id - cursor, len(room.ring))
        for frame in list(room.ring)[len(room.ring) - newer :]:
            await connection.send(frame, text=True)
    room.members.add(connection)
    open_connections += 1
    try:
        async for data in connection:
            publish = orjson.loads(data)
            room.last_id += 1
            message = orjson.dumps(
                {
                    "id": room.last_id,
                    "room": publish["room"],
                    "sender": publish["sender"],
                    "seq": publish["seq"],
                    "body": publish["body"],
                    "sent_at": publish["sent_at"],
                    "server_at": time.time(),
                }
            )
            room.ring.append(message)
            broadcast(room.members, message.decode())
    finally:
        room.members.discard(connection)
        open_connections -= 1


async def main(host: str, port: int) -> None:
    """Serve until killed."""
    async with serve(
        handler, host, port, process_request=healthz, compression=None, max_size=128 * 1024
    ) as server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(main(args.host, args.port))
