"""Publishing over HTTP (`POST /rooms/{room}/messages`), shared by polling and SSE users."""

from __future__ import annotations

import time
from typing import Any

from locust.event import EventHook

from contract import codec
from contract.loadgen import LoadCounters
from contract.messages import Publish
from loadtests.http_client import HttpConnection
from loadtests.session import Session
from loadtests.users.base import ChatUser


class PublishRefused(Exception):
    """The target answered a publish with something other than 201."""


class HttpPublisher:
    """A keep-alive connection for POSTs; fires `publish` with the response time."""

    def __init__(
        self, base_url: str, request_event: EventHook, request_type: str, session: Session
    ) -> None:
        self.connection = HttpConnection(base_url, session.wire)
        self.request_event = request_event
        self.request_type = request_type
        self.session = session
        self.counters: LoadCounters = session.counters

    def publish(self, message: Publish) -> bool:
        """POST the message; True on 201 (the publish latency is the response time)."""
        body = codec.dumps(message.to_json())
        started = time.perf_counter()
        self.counters.requests += 1
        error: Exception | None = None
        length = 0
        try:
            response = self.connection.request("POST", f"/rooms/{message.room}/messages", body)
            length = len(response.body)
            if response.status != 201:
                error = PublishRefused(f"{response.status}: {response.body[:200]!r}")
        except OSError as exc:
            error = exc
        elapsed_s = time.perf_counter() - started
        if error is None:
            self.session.record_publish(elapsed_s, message.sent_at)
        self.request_event.fire(
            request_type=self.request_type,
            name="publish",
            response_time=elapsed_s * 1000.0,
            response_length=length,
            exception=error,
            context=None,
        )
        return error is None

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()


class HttpPublishingUser(ChatUser):
    """A user that publishes with POSTs on its own keep-alive connection (polling and SSE)."""

    abstract = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.publisher: HttpPublisher | None = None

    def publish(self, message: Publish) -> bool:
        """POST the message on the user's own keep-alive connection."""
        if self.publisher is None:
            self.publisher = HttpPublisher(
                self.base_url, self.environment.events.request, self.request_type, self.session
            )
        return self.publisher.publish(message)

    def on_stop(self) -> None:
        """Also close the publishing connection."""
        super().on_stop()
        if self.publisher is not None:
            self.publisher.close()
