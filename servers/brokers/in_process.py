"""The in-process broker: rooms in this process, a ring buffer of history per room."""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from collections import deque

from contract.messages import Publish
from servers.brokers.fanout import SHUTDOWN_REASON, LocalRooms, LocalSubscription, RoomFanout
from servers.brokers.seam import Delivery, History, Subscription, resolve_cursor


class _Room(RoomFanout):
    """A room in this process: its history ring plus the shared local fan-out."""

    __slots__ = ("last_id", "ring")

    def __init__(self, history_size: int) -> None:
        super().__init__()
        self.last_id = 0
        self.ring: deque[Delivery] = deque(maxlen=history_size)

    def after(self, cursor: int) -> list[Delivery]:
        """Stored messages with id > cursor, oldest first; O(number returned)."""
        newer = min(self.last_id - cursor, len(self.ring))  # ids in the ring are contiguous
        if newer <= 0:
            return []
        tail = list(itertools.islice(reversed(self.ring), newer))
        tail.reverse()
        return tail


class InProcessBroker(LocalRooms[_Room]):
    """Rooms in this process: a ring buffer of history per room, fan-out to local queues."""

    def __init__(self, history_size: int = 10_000, queue_size: int = 1_024) -> None:
        if history_size < 1 or queue_size < 1:
            raise ValueError("history_size and queue_size must be >= 1")
        super().__init__()
        self.history_size = history_size
        self.queue_size = queue_size

    def _room(self, name: str) -> _Room:
        room = self._rooms.get(name)
        if room is None:
            room = self._rooms[name] = _Room(self.history_size)
        return room

    def _forget_if_unused(self, name: str, room: _Room) -> None:
        # A room nobody published to and nobody listens on would only cost memory.
        if room.last_id == 0 and room.idle:
            self._rooms.pop(name, None)

    async def publish(self, publish: Publish) -> Delivery:
        """Stamp the next id of the room and `server_at`, store, fan out; return the delivery."""
        room = self._room(publish.room)
        room.last_id += 1
        delivery = Delivery(publish.to_message(room.last_id, time.time()))
        room.ring.append(delivery)
        self._subscriptions -= room.deliver(delivery)
        return delivery

    async def history(self, room: str, since: int | None) -> History:
        """Messages with id > `since` (see `resolve_cursor`), at once."""
        state = self._rooms.get(room)
        if state is None:
            return History([], 0)
        return History(state.after(resolve_cursor(since, state.last_id)), state.last_id)

    async def wait_for(self, room: str, since: int | None, timeout_s: float) -> History:
        """Like `history`, but wait up to `timeout_s` for a newer message if there is none."""
        state = self._room(room)
        cursor = resolve_cursor(since, state.last_id)
        if state.last_id > cursor or self._closed or timeout_s <= 0:
            history = History(state.after(cursor), state.last_id)
            self._forget_if_unused(room, state)
            return history
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        drops = self._drops
        state.waiting += 1
        self._waiting += 1
        try:
            while state.last_id <= cursor and not self._closed and self._drops == drops:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                # asyncio.wait never cancels the shared future, unlike wait_for.
                await asyncio.wait((state.next_change(),), timeout=remaining)
        finally:
            state.waiting -= 1
            self._waiting -= 1
        history = History(state.after(cursor), state.last_id)
        self._forget_if_unused(room, state)
        return history

    async def subscribe(self, room: str, since: int | None) -> Subscription:
        """Subscribe: the backlog after `since`, then every new message, with no gap."""
        state = self._room(room)
        # No await between taking the backlog and registering: publish() cannot run in
        # between, so the handoff from backlog to live has neither gap nor duplicate.
        subscription = LocalSubscription(
            self.queue_size, functools.partial(self._unsubscribe, room)
        )
        subscription.start(state.after(resolve_cursor(since, state.last_id)), state.last_id)
        if self._closed:
            subscription.end(SHUTDOWN_REASON)
            self._forget_if_unused(room, state)
            return subscription
        state.subscribers.add(subscription)
        self._subscriptions += 1
        return subscription

    def _unsubscribe(self, room: str, subscription: LocalSubscription) -> None:
        state = self._rooms.get(room)
        if state is None or subscription not in state.subscribers:
            return
        state.subscribers.discard(subscription)
        self._subscriptions -= 1
        self._forget_if_unused(room, state)

    async def close(self) -> None:
        """End every subscription and held wait (server shutdown)."""
        self._closed = True
        self._end_all(SHUTDOWN_REASON)

    def _room_ended(self, name: str, state: _Room) -> None:
        self._forget_if_unused(name, state)
