"""The live uvicorn server's client TCP connections: the "drop" fault (`/_admin/drop`) closes
them, and short polling's connection cap counts them.

The app cannot see its server's connections: `create_app` makes a `ClientConnections`, and
the server that runs the app (`servers.launch.TargetServer`) attaches its `ServerState` to it.
Served by anything else (a test client, another server), nothing is attached and nothing is
closed.
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState


class ClientConnections:
    """Closes the client connections of the server attached, on demand."""

    def __init__(self) -> None:
        self._state: ServerState | None = None

    def attach(self, state: ServerState) -> None:
        """The running server's state (its `connections` set is live)."""
        self._state = state

    def count(self) -> int:
        """Client connections open now, of any kind (0 when no server is attached)."""
        return 0 if self._state is None else len(self._state.connections)

    def close_all(self, keep: tuple[str, int] | None = None) -> int:
        """Close every client connection but the one from `keep`; how many that is.

        HTTP connections are closed by the server: idle keep-alive ones at once, ones with a
        request in flight (a poll, a held poll, an event stream) right after their response,
        which carries `Connection: close` if it has not started yet (uvicorn's `shutdown()`,
        as on server shutdown). WebSocket connections (the websockets sans-I/O protocol both
        launchers use) are counted but left to the app, which closes them with its own code
        and reason once their subscription ends: uvicorn's `shutdown()` would send 1012
        without a reason, ahead of the app's close.
        """
        if self._state is None:
            return 0
        closed = 0
        for connection in list(self._state.connections):
            if keep is not None and getattr(connection, "client", None) == keep:
                continue  # the caller's own connection: it is waiting for the answer
            if not isinstance(connection, WebSocketsSansIOProtocol):
                connection.shutdown()
            closed += 1
        return closed
