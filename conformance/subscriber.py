"""The one interface the checks use to be a room member, whatever the transport."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import time
from typing import Any

import httpx

from conformance import endpoints
from contract import codec
from contract.messages import Message, Publish, decode_message
from contract.registry import TargetSpec

MAX_RECORDED_ERRORS = 20  # enough to explain a failure without flooding a report


class SubscriptionError(RuntimeError):
    """The target refused or broke a subscription or a publish."""


class Subscriber(abc.ABC):
    """A room member: subscribes from an optional cursor, publishes, records what it receives.

    Received messages are validated against the delivered-message contract on arrival;
    contract violations are recorded in `errors` rather than raised, so a check can report
    all of them at once.
    """

    def __init__(self, spec: TargetSpec, base_url: str, http: httpx.AsyncClient, name: str) -> None:
        self.spec = spec
        self.base_url = base_url
        self.http = http
        self.name = name
        self.room = ""
        self.received: list[Message] = []
        self.errors: list[str] = []
        self.ended: str | None = None  # why the subscription ended, if the server ended it
        # `history_lost` answers: (messages received before it, its {"since", "oldest_id"})
        self.history_lost: list[tuple[int, dict[str, Any]]] = []
        self._cursor: int | None = None
        self._last_id: int | None = None  # of the last message received on this subscription
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    @property
    def cursor(self) -> int | None:
        """The id of the newest message seen (or the cursor connected with); the resume point."""
        return self._cursor

    async def connect(self, room: str, cursor: int | None = None, *, read: bool = True) -> None:
        """Subscribe to `room` from `cursor` (None: from now); returns once subscribed.

        With `read=False` nothing is read until `start_reading()`: a reader that stalls.
        """
        self.room = room
        self._cursor = cursor
        await self._open()
        if read:
            self.start_reading()

    def start_reading(self) -> None:
        """Begin receiving in the background (once)."""
        if self._reader is None:
            self._reader = asyncio.create_task(self._read_safely(), name=f"{self.name}-reader")

    async def receive(self, timeout_s: float) -> Message:
        """The next message received; TimeoutError if none within `timeout_s`."""
        async with asyncio.timeout(timeout_s):
            return await self._inbox.get()

    async def wait_for(self, count: int, idle_timeout_s: float, deadline_s: float = 30.0) -> int:
        """Wait until `count` messages have been received, the subscription ends, or nothing
        arrives for `idle_timeout_s`; returns how many were received."""
        give_up = time.monotonic() + deadline_s
        while len(self.received) < count and self.ended is None:
            self._changed.clear()
            wait_s = min(idle_timeout_s, give_up - time.monotonic())
            if wait_s <= 0:
                break
            try:
                async with asyncio.timeout(wait_s):
                    await self._changed.wait()
            except TimeoutError:
                break
        return len(self.received)

    @abc.abstractmethod
    async def publish(self, publish: Publish) -> None:
        """Publish a message to this member's room (POST, or a frame on its own connection)."""

    async def close(self) -> None:
        """End the subscription from the client side."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None
        await self._close_transport()

    @abc.abstractmethod
    async def _open(self) -> None:
        """Establish the subscription; raise SubscriptionError if the target refuses it."""

    @abc.abstractmethod
    async def _read(self) -> None:
        """Receive until the subscription ends, passing each message payload to `_deliver`."""

    @abc.abstractmethod
    async def _close_transport(self) -> None:
        """Release the connection."""

    async def _read_safely(self) -> None:
        try:
            await self._read()
            if self.ended is None:
                self.ended = "the server ended the subscription"
        except asyncio.CancelledError:
            raise
        except SubscriptionError as exc:
            self.ended = str(exc)
        except Exception as exc:  # a broken connection is a finding, not a crash
            self.ended = f"{type(exc).__name__}: {exc}"
        finally:
            self._changed.set()

    def _history_lost(self, notice: object) -> None:
        """Record a `history_lost` answer (docs/protocol.md), or an error if it is malformed."""
        fields = ("since", "oldest_id")
        if not isinstance(notice, dict) or not all(
            isinstance(notice.get(name), int) and not isinstance(notice.get(name), bool)
            for name in fields
        ):
            self._record_error(f"malformed history_lost {str(notice)[:80]!r}")
            return
        self.history_lost.append((len(self.received), notice))
        self._changed.set()

    def _record_error(self, error: str) -> None:
        if len(self.errors) < MAX_RECORDED_ERRORS:
            self.errors.append(error)

    def _deliver(self, payload: str | bytes | dict[str, Any], event_id: str | None = None) -> None:
        """Validate one delivered message, record it and advance the cursor."""
        try:
            message = decode_message(payload)
        except ValueError as exc:
            self._record_error(f"undecodable message {str(payload)[:80]!r}: {exc}")
            return
        for problem in message_problems(message, self.spec):
            self._record_error(f"{message.sender}#{message.seq}: {problem}")
        if message.room != self.room:
            self._record_error(f"{message.sender}#{message.seq} is from room {message.room!r}")
        if self.spec.assigns_ids and isinstance(message.id, int):
            if event_id is not None and event_id != str(message.id):
                self._record_error(f"event id {event_id!r} is not the message id {message.id}")
            if self._last_id is not None and message.id <= self._last_id:
                self._record_error(f"id {message.id} after id {self._last_id} (ids must increase)")
            self._last_id = self._cursor = message.id
        self.received.append(message)
        self._inbox.put_nowait(message)
        self._changed.set()


def message_problems(message: Message, spec: TargetSpec) -> list[str]:
    """How a delivered message breaks the schema of docs/protocol.md (empty if it does not)."""
    problems: list[str] = []
    if spec.assigns_ids:
        if not isinstance(message.id, int) or isinstance(message.id, bool) or message.id < 1:
            problems.append(f"id {message.id!r} is not a positive integer")
    elif message.id is not None:
        problems.append(f"id {message.id!r} should be null (the target assigns no ids)")
    if not isinstance(message.sender, str) or not isinstance(message.body, str):
        problems.append("sender and body must be strings")
    if not isinstance(message.seq, int) or isinstance(message.seq, bool):
        problems.append(f"seq {message.seq!r} is not an integer")
    for field, value in (("sent_at", message.sent_at), ("server_at", message.server_at)):
        if not isinstance(value, int | float) or isinstance(value, bool):
            problems.append(f"{field} {value!r} is not a number")
    return problems


async def post_publish(
    http: httpx.AsyncClient, base_url: str, publish: Publish, spec: TargetSpec
) -> Message:
    """`POST /rooms/{room}/messages`; returns the stored message, or raises SubscriptionError."""
    url = endpoints.messages_url(base_url, publish.room)
    response = await http.post(
        url,
        content=codec.dumps(publish.to_json()),
        headers={"Content-Type": "application/json"},
    )
    if response.status_code != 201:
        raise SubscriptionError(
            f"POST {publish.sender}#{publish.seq} answered {response.status_code}: "
            f"{response.text[:200]}"
        )
    try:
        stored = decode_message(response.content)
    except ValueError as exc:
        raise SubscriptionError(f"POST answered 201 without the stored message: {exc}") from None
    problems = message_problems(stored, spec)
    if problems:
        raise SubscriptionError(f"POST answered a stored message that {'; '.join(problems)}")
    return stored
