"""The local fan-out every broker shares: one room's subscribers and held waits in this process.

Each subscriber gets a bounded queue and the slow-consumer policy of docs/protocol.md (drop
and disconnect); every held wait of the room shares one wake-up future. Where messages come
from (an in-process ring, a Redis channel) is the broker's business, not this module's.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Generic, TypeVar

from servers.brokers.seam import Delivery, HistoryLost, PushSink

SLOW_CONSUMER_REASON = "slow consumer: send queue of {size} messages full"
SHUTDOWN_REASON = "server shutting down"
DROP_REASON = "connections dropped by the server (fault injection)"


class LocalSubscription:
    """A backlog, then live deliveries through a bounded queue fed by `offer`.

    Consumed either by iterating (a task per subscriber awaits each delivery) or, once
    `push_to` is called, by writing each delivery to its connection as it is offered: no task
    switch per delivery. Either way a delivery that cannot go out yet waits in the same bounded
    queue, and the slow-consumer policy is the same.
    """

    __slots__ = (
        "_backlog",
        "_dropped",
        "_encode",
        "_on_close",
        "_pending",
        "_queue_size",
        "_sink",
        "_skip_through",
        "_waiter",
        "end_reason",
        "history_lost",
    )

    def __init__(self, queue_size: int, on_close: Callable[[LocalSubscription], None]) -> None:
        self._on_close = on_close
        self._backlog: deque[Delivery] = deque()
        self._pending: deque[Delivery] = deque()
        self._queue_size = queue_size
        self._skip_through = -1  # live deliveries up to this id are in the backlog already
        self._waiter: asyncio.Future[None] | None = None
        self._dropped = False
        self._sink: PushSink | None = None
        self._encode: Callable[[Delivery], bytes] | None = None
        self.end_reason: str | None = None
        self.history_lost: HistoryLost | None = None  # for the consumer to send first

    @property
    def dropped(self) -> bool:
        """Whether the slow-consumer policy ended this subscription."""
        return self._dropped

    def start(
        self, backlog: Iterable[Delivery], last_id: int, lost: HistoryLost | None = None
    ) -> None:
        """Deliver `backlog` (ids up to `last_id`) first; live deliveries up to it are skipped.

        A broker may register the subscription before it reads the backlog, so that nothing
        published meanwhile is missed; what was queued twice that way is dropped here. `lost`
        is what history no longer held after the cursor (`history_lost`).
        """
        if self.end_reason is not None:
            return
        self.history_lost = lost
        self._backlog.extend(backlog)  # references to stored deliveries, not copies
        self._skip_through = last_id
        while self._pending and self._pending[0].id <= last_id:
            self._pending.popleft()

    def offer(self, delivery: Delivery) -> bool:
        """Queue a live message; False (and the subscription ends) if the queue is full."""
        if delivery.id <= self._skip_through:
            return True
        sink = self._sink
        if sink is not None and sink.writable and not self._backlog and not self._pending:
            assert self._encode is not None
            sink.write(self._encode(delivery))  # a closing connection: its reader ends it
            return True
        if len(self._pending) >= self._queue_size:
            self._dropped = True
            self.end(SLOW_CONSUMER_REASON.format(size=self._queue_size))
            return False
        self._pending.append(delivery)
        if sink is None:
            self._wake()  # pushed ones wait for the sink's on_writable instead
        return True

    def push_to(self, sink: PushSink, encode: Callable[[Delivery], bytes]) -> None:
        """From now on write deliveries to `sink` as they come, each as `encode` makes it.

        The backlog and whatever queued so far go first; then each live delivery is written
        when offered, or queued (bounded, as before) while the sink is not writable and
        written when it is again. Do not iterate a pushed subscription; await `wait_end`.
        """
        self._sink = sink
        self._encode = encode
        sink.on_writable = self._flush
        self._flush()

    def _flush(self) -> None:
        """Write what waits, oldest first, while the sink takes it."""
        sink, encode = self._sink, self._encode
        if sink is None or encode is None:
            return
        while self.end_reason is None and sink.writable:
            if self._backlog:
                delivery = self._backlog.popleft()
            elif self._pending:
                delivery = self._pending.popleft()
            else:
                return
            if not sink.write(encode(delivery)):
                return  # closing: its reader ends the subscription

    async def wait_end(self) -> None:
        """Until delivery ends (slow consumer, drop fault, shutdown): a pushed subscription's
        consumer awaits this instead of iterating; `end_reason` then says why."""
        while self.end_reason is None:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def end(self, reason: str) -> None:
        """Stop delivering: drop what is queued and let the consumer's iteration finish."""
        if self.end_reason is None:
            self.end_reason = reason
        self._backlog.clear()
        self._pending.clear()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __aiter__(self) -> AsyncIterator[Delivery]:
        return self

    async def __anext__(self) -> Delivery:
        while True:
            if self._backlog:
                return self._backlog.popleft()
            if self._pending:
                return self._pending.popleft()
            if self.end_reason is not None:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def close(self) -> None:
        """Stop receiving; idempotent."""
        if self.end_reason is None:
            self.end_reason = "closed"
        self._backlog.clear()
        self._pending.clear()
        if self._sink is not None:
            self._sink.on_writable = None  # the connection no longer holds this subscription
            self._sink = None
        self._on_close(self)


class RoomFanout:
    """One room's local subscribers and held waits."""

    __slots__ = ("changed", "subscribers", "waiting")

    def __init__(self) -> None:
        self.subscribers: set[LocalSubscription] = set()
        self.changed: asyncio.Future[None] | None = None  # one future shared by all waiters
        self.waiting = 0

    @property
    def idle(self) -> bool:
        """Nobody subscribed and nobody waiting."""
        return not self.subscribers and self.waiting == 0

    def deliver(self, delivery: Delivery) -> int:
        """Offer to every subscriber and wake held waits; returns how many were dropped as slow."""
        dropped = [subscriber for subscriber in self.subscribers if not subscriber.offer(delivery)]
        for subscriber in dropped:
            self.subscribers.discard(subscriber)
        self.wake()
        return len(dropped)

    def next_change(self) -> asyncio.Future[None]:
        """The future the next delivery (or `wake`) resolves, shared by every waiter."""
        if self.changed is None:
            self.changed = asyncio.get_running_loop().create_future()
        return self.changed

    def wake(self) -> None:
        """Resolve the held waits' future: they re-check and answer with what there is."""
        if self.changed is not None:
            self.changed.set_result(None)
            self.changed = None

    def end_all(self, reason: str) -> int:
        """End every subscription and wake held waits; returns how many subscriptions ended."""
        ended = len(self.subscribers)
        for subscriber in self.subscribers:
            subscriber.end(reason)
        self.subscribers.clear()
        self.wake()
        return ended


RoomT = TypeVar("RoomT", bound=RoomFanout)


class LocalRooms(Generic[RoomT]):
    """What every broker keeps alike in this process: its rooms, the open subscriptions and
    held waits (the connection cap counts them), and the "drop" fault that ends them all."""

    def __init__(self, history_size: int, queue_size: int, history_max_age_s: float) -> None:
        if history_size < 1 or queue_size < 1:
            raise ValueError("history_size and queue_size must be >= 1")
        if not history_max_age_s > 0:
            raise ValueError("history_max_age_s must be > 0")
        self.history_size = history_size  # history kept per room, by count and by age
        self.history_max_age_s = history_max_age_s
        self.queue_size = queue_size  # per subscriber
        self._rooms: dict[str, RoomT] = {}
        self._subscriptions = 0
        self._waiting = 0
        self._drops = 0  # bumped by drop_all: a held wait that sees it change answers at once
        self._closed = False

    def connection_count(self) -> int:
        """Open subscriptions plus held `wait_for` calls in this process."""
        return self._subscriptions + self._waiting

    def room_count(self) -> int:
        """Rooms this process holds (stores, listens to or serves)."""
        return len(self._rooms)

    async def drop_all(self) -> int:
        """End every subscription and answer every held wait now, staying open for new ones."""
        self._drops += 1
        return self._end_all(DROP_REASON)

    def _end_all(self, reason: str) -> int:
        """End every subscription and wake every held wait; how many of them there were."""
        ended = self._subscriptions + self._waiting
        for name, state in list(self._rooms.items()):
            # Held waits are woken too: they re-check and answer with what there is.
            self._subscriptions -= state.end_all(reason)
            self._room_ended(name, state)
        return ended

    def _room_ended(self, name: str, state: RoomT) -> None:
        """A room whose subscribers were all just ended (a broker may forget it)."""
