"""The in-process broker: rooms in this process, a ring buffer of history per room.

History is bounded by count (the ring's length) and by age: messages the server took more
than `history_max_age_s` ago are dropped from the ring's old end whenever the room is
published to or read, and, for rooms nobody touches, by a sweep over every room that a
publish runs at most every SWEEP_INTERVAL_S.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from collections import deque

from contract.messages import HISTORY_MAX_AGE_S_DEFAULT, HISTORY_SIZE_DEFAULT, Publish
from servers.brokers.fanout import SHUTDOWN_REASON, LocalRooms, LocalSubscription, RoomFanout
from servers.brokers.seam import Delivery, History, Subscription, history_lost, resolve_cursor

SWEEP_INTERVAL_S = 5.0  # how often a publish also expires the history of every other room


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

    def read(self, cursor: int) -> History:
        """What is kept after `cursor`, the newest id, and what was no longer kept."""
        kept = self.after(cursor)
        return History(kept, self.last_id, history_lost(cursor, kept, self.last_id))

    def expire(self, before: float) -> None:
        """Drop the kept messages the server took before `before` (epoch s), oldest first."""
        ring = self.ring
        while ring and ring[0].server_at < before:
            ring.popleft()


class InProcessBroker(LocalRooms[_Room]):
    """Rooms in this process: a ring buffer of history per room, fan-out to local queues."""

    def __init__(
        self,
        history_size: int = HISTORY_SIZE_DEFAULT,
        queue_size: int = 1_024,
        history_max_age_s: float = HISTORY_MAX_AGE_S_DEFAULT,
    ) -> None:
        super().__init__(history_size, queue_size, history_max_age_s)
        self._next_sweep = 0.0

    def kept_count(self) -> int:
        """Messages history holds now, over every room (what its memory grows with)."""
        return sum(len(room.ring) for room in self._rooms.values())

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
        now = time.time()
        kept = Delivery.of(publish.to_message(room.last_id, now))
        room.ring.append(kept)
        self._expire(room, now)
        self._subscriptions -= room.deliver(kept.live())
        return kept

    def _expire(self, room: _Room, now: float) -> None:
        """Age out `room`'s history; every SWEEP_INTERVAL_S, every other room's too."""
        before = now - self.history_max_age_s
        room.expire(before)
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_INTERVAL_S
            for other in self._rooms.values():
                other.expire(before)

    def _read(self, state: _Room, cursor: int) -> History:
        """The room's history after `cursor`, none of it older than the age bound."""
        state.expire(time.time() - self.history_max_age_s)
        return state.read(cursor)

    async def history(self, room: str, since: int | None) -> History:
        """Messages with id > `since` (see `resolve_cursor`), at once."""
        state = self._rooms.get(room)
        if state is None:
            return History([], 0)
        return self._read(state, resolve_cursor(since, state.last_id))

    async def wait_for(self, room: str, since: int | None, timeout_s: float) -> History:
        """Like `history`, but wait up to `timeout_s` for a newer message if there is none."""
        state = self._room(room)
        cursor = resolve_cursor(since, state.last_id)
        if state.last_id > cursor or self._closed or timeout_s <= 0:
            history = self._read(state, cursor)
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
        history = self._read(state, cursor)
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
        history = self._read(state, resolve_cursor(since, state.last_id))
        subscription.start(history.deliveries, history.last_id, history.lost)
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
