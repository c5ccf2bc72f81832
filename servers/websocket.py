"""WebSocket: `WS /ws?room=R[&since=ID]`, speaking the API Gateway route protocol."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import FastAPI, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState
from websockets.frames import CloseCode

from contract.messages import InvalidInput, Problem, parse_action_frame, validate_room
from servers.brokers.fanout import DROP_REASON
from servers.brokers.seam import Broker, Delivery, PushSink, Subscription
from servers.http_common import create_app, parse_cursor
from servers.settings import Settings
from servers.ws_protocol import DIRECT_SEND_EXTENSION

WS_PATH = "/ws"


def create_websocket_app(settings: Settings | None = None, broker: Broker | None = None) -> FastAPI:
    """The WebSocket target: the socket (subscribe + publish frames) and healthz."""
    app = create_app("websocket", settings, broker, http_publish=False, told=("queue_size",))
    room_broker: Broker = app.state.broker

    async def connect(websocket: WebSocket) -> None:
        """Subscribe to the room, then publish every valid frame; bad input closes."""
        try:
            room = validate_room(websocket.query_params.get("room"))
            since = parse_cursor(websocket.query_params.get("since"))
        except InvalidInput as exc:
            await websocket.accept()  # accept first, so the client sees code and reason
            await websocket.close(exc.problem.ws_close_code, exc.close_reason())
            return
        # Subscribed before the handshake completes: a connected client misses nothing.
        subscription = await room_broker.subscribe(room, since)
        direct_send = websocket.scope.get("extensions", {}).get(DIRECT_SEND_EXTENSION)
        try:
            await websocket.accept()
            if direct_send is not None:
                sender = asyncio.create_task(_push(websocket, subscription, direct_send))
            else:
                sender = asyncio.create_task(_send_loop(websocket, subscription))
            try:
                problem = await _receive_loop(websocket, room_broker, room)
            finally:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender
            if problem is not None:
                await _close(websocket, problem.problem.ws_close_code, problem.close_reason())
        finally:
            subscription.close()

    app.add_hot_socket_route(WS_PATH, connect)
    return app


async def _receive_loop(websocket: WebSocket, broker: Broker, room: str) -> InvalidInput | None:
    """Publish each valid frame until the client leaves (None) or sends bad input."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return None
        text = message.get("text")
        if text is None:
            return InvalidInput(
                Problem.BINARY, None, "binary frames are not accepted; send JSON text"
            )
        try:
            publish = parse_action_frame(text)
            if publish.room != room:
                raise InvalidInput(
                    Problem.INVALID_ROOM, "room", f"frame room {publish.room!r} is not {room!r}"
                )
        except InvalidInput as exc:
            return exc
        await broker.publish(publish)  # the publisher's own echo is its ack
        # Yield once per frame, as every HTTP publish does by being its own request: frames
        # read in one burst would otherwise fill every member's queue before any sender runs.
        await asyncio.sleep(0)


async def _push(websocket: WebSocket, subscription: Subscription, direct_send: PushSink) -> None:
    """Have the broker write each message's frame straight to this connection; close when the
    subscription is ended by the server.

    The fast path, where the server offers it (servers.ws_protocol.DirectSend): a message is
    framed once for the room and written to each member in the publisher's turn, with no task
    switch or ASGI event per member. Flow control and the bounded queue are as in `_send_loop`.
    """
    lost = subscription.history_lost
    if lost is not None:  # before the backlog: what the cursor asked for and is gone
        direct_send.write(lost.ws_frame)
    subscription.push_to(direct_send, _frame_of)
    await subscription.wait_end()
    await _close(websocket, _close_code(subscription), subscription.end_reason or "")


def _frame_of(delivery: Delivery) -> bytes:
    return delivery.ws_frame


async def _send_loop(websocket: WebSocket, subscription: Subscription) -> None:
    """Send `history_lost` (if the cursor was older than what is kept), backlog, then live
    messages; close when the subscription is ended by the server.

    The portable path, through ASGI events, for a server (or middleware) that offers no
    direct send.
    """
    try:
        lost = subscription.history_lost
        if lost is not None:
            await websocket.send({"type": "websocket.send", "text": lost.ws_text})
        async for delivery in subscription:
            # one event (and text) for all subscribers: no per-send dict or str
            await websocket.send(delivery.ws_event)
    except (WebSocketDisconnect, RuntimeError):
        return  # the client is gone; the receive loop sees it too
    await _close(websocket, _close_code(subscription), subscription.end_reason or "")


def _close_code(subscription: Subscription) -> CloseCode:
    """Why the server ended delivery, as a close code: slow consumer, drop fault, shutdown."""
    if subscription.dropped:
        return CloseCode.POLICY_VIOLATION
    if subscription.end_reason == DROP_REASON:
        return CloseCode.SERVICE_RESTART  # the drop fault: come back, cursor in hand
    return CloseCode.GOING_AWAY


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    """Close unless already closed by either side."""
    if websocket.application_state == WebSocketState.CONNECTED:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await websocket.close(code, reason)


app = create_websocket_app()
