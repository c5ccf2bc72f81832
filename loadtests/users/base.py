"""What every simulated chat user does, whatever its transport; the families fill in the I/O.

A user takes a seat (room, publisher or not, sender id), joins its room, receives in its own
greenlet, and — if it publishes — sends `sender`, `seq`, `sent_at` at the scenario's rate once
the conductor's timeline says so.
"""

from __future__ import annotations

import random
import time
import zlib
from typing import Any, ClassVar

import gevent
from gevent import Greenlet
from locust import User, task
from locust.event import EventHook

from contract import codec
from contract.histograms import CONNECT, FIRST_MESSAGE
from contract.messages import Publish, is_history_lost
from contract.registry import TargetSpec
from contract.scenario import Scenario
from loadtests.accounting import JOIN_MARGIN_S, Receipt, ReceiveLog
from loadtests.backoff import Backoff
from loadtests.exchange import Outage
from loadtests.refusals import classify
from loadtests.schedule_stamp import intended_at, stamped_body
from loadtests.session import SESSION, Seat, Session

IDLE_SLEEP_S = 3600.0
SEAT_CHECK_S = 0.5  # an overload's users look this often whether their room is still in
# What API Gateway sends a client when the Lambda behind a route failed or was throttled.
GATEWAY_ERROR = "Internal server error"


class DuplicateMessage(Exception):
    """A (sender, seq) this receiver had already seen."""


class OutOfOrderMessage(Exception):
    """A seq lower than one already seen from the same sender."""


class BadMessage(Exception):
    """Something that is not a delivered message arrived."""


class TargetError(Exception):
    """The target sent an error frame instead of a message."""


class DeliverySink:
    """Where a client hands what it received: accounting, HDR histograms, Locust stats."""

    __slots__ = (
        "_events",
        "_first_pending",
        "_outage",
        "_slow_draw",
        "connect_started_at",
        "echo_is_ack",
        "last_id",
        "log",
        "newest_sent_at",
        "own_sender",
        "request_type",
        "session",
    )

    def __init__(
        self,
        session: Session,
        request_event: EventHook,
        request_type: str,
        seat: Seat,
        echo_is_ack: bool = False,
    ) -> None:
        self.session = session
        self.request_type = request_type
        self.own_sender = seat.sender
        self.echo_is_ack = echo_is_ack  # WebSocket: no ack frame, the own echo is the ack
        self.log: ReceiveLog | None = None
        self.last_id: int | None = None  # the resume cursor (None where ids are not assigned)
        self.newest_sent_at = 0.0  # of the messages received, epoch s (0: none; a leave's bound)
        self._events = session.deferred_events(request_event)
        self._first_pending = True
        self.connect_started_at = 0.0
        self._outage: Outage | None = None  # while reconnecting
        # whether this receiver is among a `slow` fault's fraction: a stable draw per sender
        self._slow_draw = zlib.crc32(seat.sender.encode()) % 10_000 / 10_000

    def joined(self, room: str, connect_started_at: float, joined_at: float) -> None:
        """The subscription is live: start (or, after a reconnect, keep) this receiver's log."""
        self.connect_started_at = connect_started_at
        self._first_pending = True
        if self.log is None:
            self.log = ReceiveLog(room, joined_at)
            self.session.receivers.append(self.log)
        self.session.latencies.record(CONNECT, joined_at - connect_started_at)
        self.back(joined_at)

    def connection_lost(self, lost_at: float) -> None:
        """The receiving connection broke; the outage lasts until `back()` (time to reconnect)."""
        if self._outage is None and self.log is not None:
            self._outage = Outage(lost_at)
            self.session.reconnections.append(self._outage)

    def back(self, at: float) -> None:
        """Messages flow again (subscribed, or a poll answered) after a lost connection."""
        if self._outage is not None:
            self._outage.back_at = at
            self._outage = None

    def deliver(self, payloads: list[bytes], received_at: float) -> None:
        """Account for serialized messages that arrived together at `received_at` (epoch s)."""
        account = self._account
        for payload in payloads:
            try:
                message = codec.loads(payload)
            except ValueError as exc:
                self._bad(payload, exc)
                continue
            if is_history_lost(message):
                self.session.counters.history_lost += 1  # not a message: its gap counts as lost
                continue
            account(message, len(payload), received_at)
        self._pause_if_slow()

    def deliver_objects(
        self, messages: list[dict[str, Any]], received_at: float, length_each: int
    ) -> None:
        """Account for already-parsed messages (a poll response's list)."""
        account = self._account
        for message in messages:
            account(message, length_each, received_at)
        self._pause_if_slow()

    def _pause_if_slow(self) -> None:
        """The `slow` fault: a drawn fraction of receivers stops reading (the caller is the
        receiving greenlet, so nothing is read or polled) until the slot's pause ends."""
        timeline = self.session.timeline
        if timeline is None or not timeline.faults:
            return
        now = time.time()
        for index, slot in enumerate(timeline.faults):
            if slot.slow_until is None or not slot.at <= now < slot.slow_until:
                continue
            if self._slow_draw < slot.slow_fraction:
                self.session.fault_counts[index].slow_clients += 1
                gevent.sleep(slot.slow_until - now)
            return

    def _bad(self, payload: object, exc: Exception) -> None:
        self.session.counters.receive_errors += 1
        if isinstance(payload, dict) and isinstance(payload.get("message"), str):
            # an error frame (API Gateway: {"message": "Internal server error", ids...});
            # only its text, so Locust groups them instead of listing one row per connection
            refusal = TargetError(payload["message"][:200])
            self._events.add(self.request_type, "error frame", 0.0, 0, refusal)
            if payload["message"] == GATEWAY_ERROR:
                self.session.record_refusal("throttled")  # an error frame, and a refusal
            return
        error = BadMessage(f"not a delivered message ({type(exc).__name__}: {exc})"[:200])
        self._events.add(self.request_type, "deliver", 0.0, 0, error)

    def _account(self, message: dict[str, Any], length: int, received_at: float) -> None:
        log = self.log
        try:
            sender = message["sender"]
            seq = message["seq"]
            sent_at = message["sent_at"]
            message_id = message["id"]
        except (KeyError, TypeError) as exc:
            self._bad(message, exc)
            return
        if log is None:
            return
        if message_id is not None:
            self.last_id = message_id
        latency_s = received_at - sent_at
        receipt = log.record(sender, seq)
        add_event = self._events.add
        if receipt is not Receipt.NEW:
            if receipt is Receipt.DUPLICATE:
                if (counts := self.session.fault_counts_of(sent_at)) is not None:
                    counts.duplicated += 1
                add_event(
                    self.request_type,
                    "duplicate",
                    latency_s * 1000.0,
                    length,
                    DuplicateMessage(f"{sender}#{seq}"),
                )
                return
            add_event(
                self.request_type,
                "out of order",
                latency_s * 1000.0,
                length,
                OutOfOrderMessage(f"{sender}#{seq}"),
            )
        self.newest_sent_at = max(self.newest_sent_at, sent_at)
        session = self.session
        scheduled_at = intended_at(message.get("body"))
        session.record_delivery(
            latency_s, sent_at, None if scheduled_at is None else received_at - scheduled_at
        )
        if latency_s > session.late_after_s and (counts := session.fault_counts_of(sent_at)):
            counts.late += 1
        add_event(self.request_type, "deliver", latency_s * 1000.0, length)
        if sender == self.own_sender and self.echo_is_ack:
            session.record_publish(latency_s, sent_at)
            add_event(self.request_type, "publish", latency_s * 1000.0, length)
        if self._first_pending:
            self._first_pending = False
            first_s = received_at - self.connect_started_at
            session.latencies.record(FIRST_MESSAGE, first_s)
            add_event(self.request_type, "first message", first_s * 1000.0, 0)


class ChatUser(User):
    """A chat room member on some transport; subclasses implement the four I/O methods."""

    abstract = True
    target: ClassVar[TargetSpec]
    request_type: ClassVar[str] = "CHAT"
    echo_is_ack: ClassVar[bool] = False  # publish latency from the own echo (no ack exists)

    @classmethod
    def latency_floor_s(cls, scenario: Scenario) -> float:
        """What the transport adds to delivery p99 at any load (none: it pushes)."""
        return 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session = SESSION
        self.seat: Seat | None = None
        self.sink: DeliverySink | None = None
        self._receiver: Greenlet | None = None
        # one per user, for joining and reconnecting alike; reset once joined
        self.backoff = Backoff()

    # -- the I/O a family provides -------------------------------------------------------------

    def join(self) -> None:
        """Connect and subscribe; call `self.sink.joined(...)` once messages will flow."""
        raise NotImplementedError

    def receive_forever(self) -> None:
        """Receive and hand messages to `self.sink.deliver` until the connection ends."""
        raise NotImplementedError

    def publish(self, message: Publish) -> bool:
        """Send one message; True when it was acknowledged or handed to the socket."""
        raise NotImplementedError

    def close(self) -> None:
        """Close every connection of this user."""
        raise NotImplementedError

    def reconnect_hint_s(self) -> float | None:
        """The server's standing hint for the next reconnect (s), if it gave one (SSE)."""
        return None

    # -- the behaviour every family shares -----------------------------------------------------

    @property
    def base_url(self) -> str:
        """The target URL Locust was given (--host)."""
        if not self.host:
            raise ValueError(f"{type(self).__name__} needs --host (the target's URL)")
        return self.host.rstrip("/") if self.target.scheme == "http" else self.host

    def fire(self, name: str, started_at: float, length: int, error: Exception | None) -> None:
        """Report one request-like event (response time since `started_at`) to Locust."""
        self.environment.events.request.fire(
            request_type=self.request_type,
            name=name,
            response_time=(time.perf_counter() - started_at) * 1000.0,
            response_length=length,
            exception=error,
            context=None,
        )

    def on_start(self) -> None:
        """Take a seat and open the sink the client delivers into."""
        self.seat = self.session.take_seat()
        self.sink = DeliverySink(
            self.session,
            self.environment.events.request,
            self.request_type,
            self.seat,
            echo_is_ack=self.echo_is_ack,
        )

    @task
    def chat(self) -> None:
        """Join, receive in a separate greenlet, publish on schedule, then idle until stopped."""
        seat = self.seat
        assert seat is not None
        if not self._connect_until_joined():
            while True:  # its room left the run before it got in
                gevent.sleep(IDLE_SLEEP_S)
        self._receiver = gevent.spawn(self._receive_with_reconnects)
        if seat.publisher:
            self._publish_on_schedule()
        if self.session.scenario.overload is not None:
            while self.session.seat_active(seat):
                gevent.sleep(SEAT_CHECK_S)
            self.leave()
        while True:
            gevent.sleep(IDLE_SLEEP_S)

    def _connect_until_joined(self) -> bool:
        """Join, retrying on the backoff; False when the user's room left the run first."""
        while True:
            if self.seat is not None and not self.session.seat_active(self.seat):
                return False
            self.session.record_attempt()
            try:
                self.join()
            except Exception as exc:  # reported by join(); keep the user trying, as a client would
                self.session.counters.connect_errors += 1
                self.close()
                gevent.sleep(self._retry_delay_s(exc, connecting=True))
                continue
            self.backoff.reset()
            return True

    def _retry_delay_s(self, exc: Exception | None, *, connecting: bool) -> float:
        """Count what refused or broke the user (if it was a refusal); the backoff's next delay,
        no shorter than what the server asked for."""
        hints = [self.reconnect_hint_s()]
        if exc is not None and (refusal := classify(exc, connecting=connecting)) is not None:
            self.session.record_refusal(refusal.kind)
            hints.append(refusal.hint_s)
        given = [hint for hint in hints if hint is not None]
        return self.backoff.next_delay(max(given) if given else None)

    def _receive_with_reconnects(self) -> None:
        while True:
            error: Exception | None = None
            try:
                self.receive_forever()
            except Exception as exc:
                if self.session.frozen_at is not None:
                    return
                error = exc
                self.session.counters.receive_errors += 1
                self.environment.events.request.fire(
                    request_type=self.request_type,
                    name="disconnect",
                    response_time=0,
                    response_length=0,
                    exception=exc,
                    context=None,
                )
            if self.sink is not None:
                self.sink.connection_lost(time.time())
            self.close()
            self.session.counters.reconnects += 1
            gevent.sleep(self._retry_delay_s(error, connecting=False))
            if not self._connect_until_joined():
                return

    def _publish_on_schedule(self) -> None:
        seat = self.seat
        assert seat is not None
        timeline = self.session.wait_timeline()
        interval_s = self.session.scenario.publish_interval_s
        if interval_s == float("inf"):
            return
        payload_bytes = self.session.scenario.payload_bytes
        # a random phase, so publishers do not all fire in the same instant
        next_at = max(timeline.publish_start, time.time()) + random.uniform(0, interval_s)
        seq = 0
        while True:
            timeline = self.session.timeline or timeline
            now = time.time()
            # a late publisher does not catch up past the end: the drain must be publish-free
            if next_at >= timeline.publish_end or now >= timeline.publish_end:
                return
            if not self.session.seat_active(seat):
                return  # its room left the run (an overload's drop)
            if next_at > now:
                gevent.sleep(min(next_at - now, 1.0))
                continue
            seq += 1
            self.session.counters.publishes += 1
            sent_at = time.time()
            # how late against the schedule: a busy load generator shows here first
            self.session.record_publish_lag(sent_at - next_at, sent_at)
            # the body carries the intended time: receivers measure from the schedule too
            body = stamped_body(next_at, payload_bytes)
            if self.publish(Publish(seat.room, seat.sender, seq, body, sent_at)):
                self.session.ledger.record(seat.room, seat.sender, seq, sent_at)
            else:
                self.session.counters.publish_errors += 1
            # open loop: the offered rate is the scenario's, so a stall is caught up after
            next_at += interval_s

    def leave(self) -> None:
        """Leave the room for good (an overload's drop): as stopping, but the user stays.

        It is held to the messages sent up to the newest one it received: a room's messages
        arrive in order, so any before it that never came are lost, and the later ones were
        still on their way (an overloaded server is seconds late) when it left.
        """
        sink = self.sink
        if sink is not None and sink.log is not None and sink.log.left_at is None:
            newest = sink.newest_sent_at
            bound = newest + JOIN_MARGIN_S if newest else sink.log.joined_at
            sink.log.left_at = min(time.time(), bound)
        self.on_stop()

    def on_stop(self) -> None:
        """Leave the room: the receiver's log stops expecting, connections close."""
        if self.sink is not None and self.sink.log is not None and self.sink.log.left_at is None:
            self.sink.log.left_at = time.time()
        if self._receiver is not None:
            # wait for it: closing its socket under a live receiver would report a failure
            self._receiver.kill(block=True, timeout=1.0)
        self.close()
