"""Subscribers for the polling targets: `GET /rooms/{room}/messages?since=ID[&wait=S]`."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from conformance import endpoints
from conformance.subscriber import Subscriber, SubscriptionError, post_publish
from contract import codec
from contract.messages import Publish

POLL_INTERVAL_S = 0.05  # short for checks: correctness, not cost, is what is measured here
LONG_POLL_WAIT_S = 10.0


async def get_messages(
    http: httpx.AsyncClient,
    base_url: str,
    room: str,
    since: int | None = None,
    wait_s: float | None = None,
) -> dict[str, Any]:
    """One poll: `{"messages": [...], "last_id": N}`, or SubscriptionError if refused."""
    params: dict[str, str] = {}
    if since is not None:
        params["since"] = str(since)
    if wait_s is not None:
        params["wait"] = str(wait_s)
    timeout = (wait_s or 0.0) + 10.0
    response = await http.get(
        endpoints.messages_url(base_url, room), params=params, timeout=timeout
    )
    if response.status_code != 200:
        raise SubscriptionError(
            f"GET messages answered {response.status_code}: {response.text[:200]}"
        )
    try:
        body = codec.loads(response.content)
    except codec.JSONDecodeError as exc:
        raise SubscriptionError(f"GET messages answered malformed JSON: {exc}") from None
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        raise SubscriptionError(f"GET messages answered no messages list: {response.text[:200]}")
    if not isinstance(body.get("last_id"), int):
        raise SubscriptionError(f"GET messages answered no integer last_id: {response.text[:200]}")
    return body


class ShortPollSubscriber(Subscriber):
    """Polls every POLL_INTERVAL_S from its cursor; publishes with POST."""

    wait_s: float | None = None  # None: answered at once, polled again after the interval

    async def publish(self, publish: Publish) -> None:
        """POST the message."""
        await post_publish(self.http, self.base_url, publish, self.spec)

    async def _open(self) -> None:
        # Without a cursor, one immediate poll tells where "now" is (the room's last_id).
        body = await get_messages(self.http, self.base_url, self.room, self._cursor)
        if self._cursor is None:
            if body["messages"]:
                self._record_error("a poll without since returned messages (should start now)")
            self._cursor = body["last_id"]
        else:
            self._deliver_all(body)

    async def _read(self) -> None:
        while True:
            if self.wait_s is None:
                await asyncio.sleep(POLL_INTERVAL_S)
            body = await get_messages(
                self.http, self.base_url, self.room, self._cursor, self.wait_s
            )
            self._deliver_all(body)

    async def _close_transport(self) -> None:
        pass  # polls are single requests on the shared client: nothing stays open

    def _deliver_all(self, body: dict[str, Any]) -> None:
        if "history_lost" in body:
            self._history_lost(body["history_lost"])
        for message in body["messages"]:
            self._deliver(message)


class LongPollSubscriber(ShortPollSubscriber):
    """Holds one poll open at a time (`&wait=S`), re-polling as soon as one is answered."""

    wait_s = LONG_POLL_WAIT_S
