"""Server-Sent Events family: one long-lived `text/event-stream` GET per user, POST to publish."""

from __future__ import annotations

import time
from typing import Any

from geventhttpclient.response import HTTPSocketResponse

from loadtests.backoff import sse_retry_s
from loadtests.http_client import HttpConnection
from loadtests.refusals import HttpRefused
from loadtests.users.http_publish import HttpPublishingUser
from loadtests.wire import CountingSocket


class StreamRefused(HttpRefused):
    """The target did not answer the event stream request with 200."""


class StreamEnded(EOFError):
    """The server ended the event stream (restart, or the slow-consumer policy)."""


class SseChatClient:
    """One event stream; fires `connect` with the time to the response head."""

    def __init__(self, user: SseUser) -> None:
        self.user = user
        self.connection = HttpConnection(user.base_url, user.session.wire)
        self.response: HTTPSocketResponse | None = None
        self.sock: CountingSocket | None = None

    def open(self, room: str, last_event_id: int | None) -> None:
        """Request the stream (with Last-Event-ID to resume) and read its head."""
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        started = time.perf_counter()
        self.user.session.counters.requests += 1
        try:
            response = self.connection.open("GET", f"/rooms/{room}/events", headers=headers)
            if response.status_code != 200:
                names = {name.lower(): value for name, value in response.items()}
                raise StreamRefused(response.status_code, names, response.read())
        except Exception as exc:
            self.connection.close()
            self.user.fire("connect", started, 0, exc)
            raise
        self.sock = self.connection.detach()
        if self.sock is not None:
            self.sock.settimeout(None)  # a stream may be quiet for long; the server pings
        self.response = response
        self.user.fire("connect", started, 0, None)

    def events(self) -> Any:
        """Yield the `data:` payload (bytes) of every event, with the time it was complete; a
        `retry:` field sets the user's `retry_s` (its floor for the next reconnect)."""
        response = self.response
        if response is None:
            raise StreamEnded("not connected")
        data: list[bytes] = []
        while True:
            line = response.readline(b"\n")
            if not line:
                raise StreamEnded("the server ended the stream")
            line = line.rstrip(b"\r\n")
            if not line:  # a blank line dispatches the event
                if data:
                    yield b"\n".join(data), time.time()
                    data = []
                continue
            if line.startswith(b"data:"):
                value = line[5:]
                data.append(value[1:] if value.startswith(b" ") else value)
            elif line.startswith(b"retry:") and (retry_s := sse_retry_s(line[6:])) is not None:
                self.user.retry_s = retry_s
            # `id:` is in the message JSON too; comments (`: ping`) and other fields are skipped

    def close(self) -> None:
        """Drop the stream."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.response = None
        self.connection.close()


class SseUser(HttpPublishingUser):
    """A chat member on an SSE target (`--host http://host:port`)."""

    abstract = True
    request_type = "SSE"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stream: SseChatClient | None = None
        # the stream's last `retry:` (s): kept across reconnects, as by an EventSource
        self.retry_s: float | None = None

    def reconnect_hint_s(self) -> float | None:
        """The server's `retry:`: a floor for the next reconnect's delay."""
        return self.retry_s

    def join(self) -> None:
        """Open the event stream; the subscription is live once the head has arrived."""
        assert self.seat is not None
        assert self.sink is not None
        resume = self.target.supports_resume and self.target.assigns_ids
        started_at = time.time()
        self.stream = SseChatClient(self)
        self.stream.open(self.seat.room, self.sink.last_id if resume else None)
        self.sink.joined(self.seat.room, started_at, time.time())

    def receive_forever(self) -> None:
        """Hand every event to the sink as it completes."""
        assert self.sink is not None
        assert self.stream is not None
        deliver = self.sink.deliver
        for payload, received_at in self.stream.events():
            deliver([payload], received_at)

    def close(self) -> None:
        """Close the stream (the publishing connection stays for the next publish)."""
        if self.stream is not None:
            self.stream.close()
            self.stream = None
