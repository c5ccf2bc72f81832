"""Polling families: short polling (sleep-after-response) and long polling (`wait=`).

Both join with a GET without `since` (the room's `last_id` is the cursor to start from), then
poll `?since=cursor`; publishing is a POST on a second keep-alive connection.
"""

from __future__ import annotations

import random
import time
from typing import Any, ClassVar

import gevent

from contract import codec
from contract.scenario import Scenario
from loadtests.http_client import HttpConnection
from loadtests.refusals import HttpRefused
from loadtests.users.http_publish import HttpPublishingUser

LONG_POLL_SLACK_S = 10.0  # socket timeout beyond `wait=`: the server answers by then


class PollRefused(HttpRefused):
    """The target answered a poll with something other than 200 and a message list."""


class PollingChatClient:
    """The polling connection of one user; fires `join`, `poll` and `empty poll`."""

    def __init__(self, user: PollingUser) -> None:
        self.user = user
        self.connection = HttpConnection(user.base_url, user.session.wire)

    def get_messages(
        self, room: str, since: int | None, wait_s: float | None, name: str | None = None
    ) -> tuple[list[dict[str, Any]], int, int]:
        """One GET: (messages, last_id, body bytes); reported as `poll` / `empty poll`."""
        query = "" if since is None else f"?since={since}"
        if wait_s is not None:
            query += f"{'&' if query else '?'}wait={wait_s:g}"
        timeout_s = None if wait_s is None else wait_s + LONG_POLL_SLACK_S
        counters = self.user.session.counters
        counters.requests += 1
        started = time.perf_counter()
        try:
            response = self.connection.request(
                "GET", f"/rooms/{room}/messages{query}", timeout_s=timeout_s
            )
            if response.status != 200:
                raise PollRefused(response.status, response.headers, response.body)
            body = codec.loads(response.body)
            messages: list[dict[str, Any]] = body["messages"]
            last_id = int(body["last_id"])
            if body.get("history_lost") is not None:
                counters.history_lost += 1
        except Exception as exc:
            self.user.fire(name or "poll", started, 0, exc)
            raise
        if name is None:
            name = "poll" if messages else "empty poll"
            if not messages:
                counters.empty_polls += 1
        self.user.fire(name, started, len(response.body), None)
        return messages, last_id, len(response.body)

    def close(self) -> None:
        """Close the polling connection."""
        self.connection.close()


class PollingUser(HttpPublishingUser):
    """Shared by both polling families; `long_poll` picks the family's behaviour."""

    abstract = True
    long_poll: ClassVar[bool] = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.poller: PollingChatClient | None = None
        self.cursor = 0
        self._joined_once = False

    def join(self) -> None:
        """A GET without `since` learns where the room is; messages after it are ours. After a
        refusal or a lost poll a resumable target is polled from the cursor instead."""
        assert self.seat is not None
        assert self.sink is not None
        self.poller = PollingChatClient(self)
        if self._joined_once and self.target.supports_resume:
            # re-subscribe from the cursor (nothing is skipped): one poll that answers at once,
            # so a refusal is seen here and an answer means the user is back
            self._poll(None)
            return
        started_at = time.time()
        _, self.cursor, _ = self.poller.get_messages(self.seat.room, None, None, name="join")
        self.sink.joined(self.seat.room, started_at, time.time())
        self._joined_once = True

    def receive_forever(self) -> None:
        """Poll from the cursor; short polling sleeps `poll_interval_s` after each answer."""
        assert self.seat is not None
        assert self.sink is not None
        assert self.poller is not None
        scenario = self.session.scenario
        wait_s = scenario.long_poll_wait_s if self.long_poll else None
        interval_s = scenario.poll_interval_s
        if not self.long_poll:  # random phase: pollers spread over the interval, as theory has it
            gevent.sleep(random.uniform(0, interval_s))
        while True:
            self._poll(wait_s)
            if not self.long_poll:
                gevent.sleep(interval_s)

    def _poll(self, wait_s: float | None) -> None:
        """One poll from the cursor: deliver what it brought and move the cursor on."""
        assert self.seat is not None
        assert self.sink is not None
        assert self.poller is not None
        messages, last_id, size = self.poller.get_messages(self.seat.room, self.cursor, wait_s)
        received_at = time.time()
        self.sink.back(received_at)  # a resumed poller is back with its first answer
        if messages:
            self.sink.deliver_objects(messages, received_at, size // len(messages))
            ids = [m["id"] for m in messages if isinstance(m.get("id"), int)]
            self.cursor = max(ids) if ids else last_id

    def close(self) -> None:
        """Close the polling connection."""
        if self.poller is not None:
            self.poller.close()


class ShortPollingUser(PollingUser):
    """A chat member on a short-polling target (`--host http://host:port`)."""

    abstract = True
    request_type = "POLL"
    long_poll = False

    @classmethod
    def latency_floor_s(cls, scenario: Scenario) -> float:
        """A message waits for the next poll: p99 ≈ 0.99 of the interval (docs/metrics.md)."""
        return 0.99 * scenario.poll_interval_s


class LongPollingUser(PollingUser):
    """A chat member on a long-polling target (`--host http://host:port`)."""

    abstract = True
    request_type = "LPOLL"
    long_poll = True
