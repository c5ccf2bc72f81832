"""The Redis broker: rooms shared by every replica of a target (`--broker redis://HOST:PORT`).

- History: one Redis Stream per room. Entry id `0-N` *is* message id N: a script adds with
  `XADD ... MAXLEN = history_size 0-*`, so Redis assigns the next id of the room atomically
  whichever replica publishes, and the stream is trimmed by count exactly like the in-process
  ring. By age too: each entry carries its `server_at` in ms (field `t`), and the same script
  looks at the oldest entry and `XTRIM ... MINID`s past it while it is older than
  `history_max_age_s` (about one look and one trim per publish: entries leave in the order
  they came). Ids stay `0-N` rather than encode the time, so that a resume still finds its
  cursor by id. Reads skip what has aged out since the room's last publish.
- Live messages: the same script publishes `N <message JSON>` on the room's channel. Each
  replica subscribes to a room's channel once (not once per client) and fans every message
  out to its own subscribers through `servers.brokers.fanout`, the piece the in-process broker uses.
- Resume reads the stream, so a client may come back on any replica with its cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import deque
from collections.abc import Coroutine
from itertools import islice
from typing import Any, cast

import redis.asyncio as redis
from redis.asyncio.client import PubSub

from contract import codec
from contract.messages import (
    HISTORY_MAX_AGE_S_DEFAULT,
    HISTORY_SIZE_DEFAULT,
    Publish,
    decode_message,
)
from servers.brokers.fanout import SHUTDOWN_REASON, LocalRooms, LocalSubscription, RoomFanout
from servers.brokers.seam import Delivery, History, history_lost, resolve_cursor

logger = logging.getLogger(__name__)

STREAM_PREFIX = "tbench:room:"  # + room: the room's history stream
CHANNEL_PREFIX = b"tbench:live:"  # + room: the room's live channel
CONNECTION_LOST_REASON = "broker connection lost"
MAX_REDIS_CONNECTIONS = 64  # commands share these; a burst waits rather than opening more
REDIS_WAIT_S = 10.0  # longest wait for a free connection from the pool
RECENT_SIZE = 256  # recent deliveries kept per room and replica, to answer woken long polls
SUBSCRIBE_TIMEOUT_S = 10.0  # a channel not confirmed by then fails the request, not hangs it
ROOM_LINGER_S = 10.0  # an idle room keeps its channel this long: polls come back at once

# Atomic: the next id of the room, the history bounded by count (ARGV[1]) and by age (entries
# stamped before ARGV[4] ms go, oldest first; the one just added never does, so the stream
# keeps its newest id), the live channel, in one step. An entry without a stamp (`t`) is kept
# until the count bound drops it.
PUBLISH_SCRIPT = """
local entry = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '0-*', 'm', ARGV[2], 't', ARGV[3])
local id = string.sub(entry, 3)
local before = tonumber(ARGV[4])
while true do
  local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
  if (tonumber(oldest[2][4]) or before) >= before then break end
  redis.call('XTRIM', KEYS[1], 'MINID', '0-' .. (tonumber(string.sub(oldest[1], 3)) + 1))
end
redis.call('PUBLISH', KEYS[2], id .. ' ' .. ARGV[2])
return id
"""
# The room's newest id, and the entries after ARGV[1] (none if it is -1 or not older) that
# are stamped ARGV[3] ms or later.
HISTORY_SCRIPT = """
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local last_id = 0
if #newest > 0 then last_id = tonumber(string.sub(newest[1][1], 3)) end
local after = tonumber(ARGV[1])
if after < 0 or after >= last_id then return {last_id, {}} end
local entries = redis.call('XRANGE', KEYS[1], ARGV[2], '+')
local before = tonumber(ARGV[3])
local first = 1
while first <= #entries and (tonumber(entries[first][2][4]) or before) < before do
  first = first + 1
end
if first == 1 then return {last_id, entries} end
local kept = {}
for index = first, #entries do kept[#kept + 1] = entries[index] end
return {last_id, kept}
"""


def stream_key(room: str) -> str:
    """The room's history stream."""
    return STREAM_PREFIX + room


def channel_name(room: str) -> bytes:
    """The room's live channel."""
    return CHANNEL_PREFIX + room.encode()


def entry_id(message_id: int) -> str:
    """The stream entry id of a message id."""
    return f"0-{message_id}"


def stored_delivery(message_id: int, stored: bytes) -> Delivery:
    """A delivery from the stored JSON (written with id null) and its id."""
    fields = codec.loads(stored)
    fields["id"] = message_id
    return Delivery.of(decode_message(fields))


def stamp_ms(epoch_s: float) -> int:
    """An entry's `t` field: epoch milliseconds."""
    return int(epoch_s * 1000)


class _ReplicaRoom(RoomFanout):
    """A room as this replica sees it: local subscribers and waits, its channel, recent ids."""

    __slots__ = ("idle_since", "listening", "recent")

    def __init__(self) -> None:
        super().__init__()
        self.listening: asyncio.Future[None] | None = None  # resolved once SUBSCRIBE is confirmed
        self.recent: deque[Delivery] = deque(maxlen=RECENT_SIZE)  # contiguous ids, oldest first
        self.idle_since = 0.0

    @property
    def last_seen(self) -> int:
        """The newest id fanned out here (0 before the first)."""
        return self.recent[-1].id if self.recent else 0

    def known_after(self, since: int | None) -> list[Delivery] | None:
        """Deliveries after `since` this replica can vouch for alone; None: ask Redis.

        Only a cursor among the ids fanned out here qualifies ([] if it is the newest): no
        cursor means "now" and one ahead of them may be stale, which only Redis can tell.
        """
        if since is None or not self.recent or since > self.last_seen:
            return None
        return self.recent_after(since)

    def recent_after(self, cursor: int) -> list[Delivery] | None:
        """Deliveries after `cursor` from the recent ones; None if they do not reach back."""
        if not self.recent or self.recent[-1].id <= cursor:
            return []
        first = self.recent[0].id
        if first > cursor + 1:
            return None
        return list(islice(self.recent, cursor + 1 - first, None))


class RedisBroker(LocalRooms[_ReplicaRoom]):
    """Rooms in Redis: Streams for ids and history, pub/sub for live fan-out across replicas."""

    def __init__(
        self,
        url: str,
        history_size: int = HISTORY_SIZE_DEFAULT,
        queue_size: int = 1_024,
        history_max_age_s: float = HISTORY_MAX_AGE_S_DEFAULT,
    ) -> None:
        super().__init__(history_size, queue_size, history_max_age_s)
        self.url = url
        pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_REDIS_CONNECTIONS,
            timeout=REDIS_WAIT_S,
            socket_connect_timeout=REDIS_WAIT_S,
        )
        self._redis = redis.Redis(connection_pool=pool)
        self._publish_script = self._redis.register_script(PUBLISH_SCRIPT)
        self._history_script = self._redis.register_script(HISTORY_SCRIPT)
        self._pubsub: PubSub | None = None
        self._listener: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._subscribing = asyncio.Lock()

    def kept_count(self) -> None:
        """None: history is in Redis's memory, not this process's."""
        return None

    async def publish(self, publish: Publish) -> Delivery:
        """Stamp the next id of the room (in Redis) and `server_at`, store, publish."""
        server_at = time.time()
        stored = publish.to_message(None, server_at).encode()  # the id lives in the entry id
        keys: list[str | bytes] = [stream_key(publish.room), channel_name(publish.room)]
        before = stamp_ms(server_at - self.history_max_age_s)
        args: list[int | bytes] = [self.history_size, stored, stamp_ms(server_at), before]
        raw_id = await self._publish_script(keys=keys, args=args)
        # This replica's subscribers get it from the channel, in order with everyone else's.
        return Delivery.of(publish.to_message(int(raw_id), server_at))

    async def history(self, room: str, since: int | None) -> History:
        """Messages with id > `since` (see `resolve_cursor`), at once."""
        history, _ = await self._read(room, since)
        return history

    async def _read(self, room: str, since: int | None) -> tuple[History, int]:
        """The room's history after the resolved cursor, and that cursor."""
        history = await self._read_after(room, -1 if since is None else since)
        cursor = resolve_cursor(since, history.last_id)
        if since is not None and cursor != since:  # a stale cursor counts as 0
            history = await self._read_after(room, cursor)
        return history, cursor

    async def _read_after(self, room: str, after: int) -> History:
        before = stamp_ms(time.time() - self.history_max_age_s)
        args: list[int | str] = [after, entry_id(after + 1), before]
        reply = await self._history_script(keys=[stream_key(room)], args=args)
        raw_last_id, entries = cast("tuple[int, list[Any]]", reply)
        deliveries = [stored_delivery(_message_id(raw), fields[1]) for raw, fields in entries]
        last_id = int(raw_last_id)
        lost = history_lost(after, deliveries, last_id) if after >= 0 else None
        return History(deliveries, last_id, lost)

    async def wait_for(self, room: str, since: int | None, timeout_s: float) -> History:
        """Like `history`, but wait up to `timeout_s` for a newer message if there is none."""
        if timeout_s <= 0 or self._closed:
            return await self.history(room, since)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        drops = self._drops
        state = self._room(room)
        state.waiting += 1
        self._waiting += 1
        try:
            await self._listen_to(room, state)
            change = state.next_change()  # taken before reading: nothing slips in between
            known = state.known_after(since)
            if known:  # a poll resuming from an id fanned out here: no round trip to Redis
                return History(known, state.last_seen)
            if known is None:
                history, cursor = await self._read(room, since)
                if history.deliveries:
                    return history
                last_id = history.last_id
            else:  # the cursor is the newest id here; anything newer reaches the channel
                cursor = last_id = state.last_seen
            while not self._closed and self._drops == drops:
                news = state.recent_after(cursor)
                if news is None:  # more arrived than this replica keeps: ask Redis
                    return (await self._read(room, cursor))[0]
                if news:
                    return History(news, news[-1].id)
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                # asyncio.wait never cancels the shared future, unlike wait_for.
                await asyncio.wait((change,), timeout=remaining)
                change = state.next_change()
            return History(state.recent_after(cursor) or [], max(last_id, state.last_seen))
        finally:
            state.waiting -= 1
            self._waiting -= 1
            self._release(room, state)

    async def subscribe(self, room: str, since: int | None) -> LocalSubscription:
        """Subscribe: the backlog after `since`, then every new message, with no gap."""
        state = self._room(room)
        subscription = LocalSubscription(
            self.queue_size, functools.partial(self._unsubscribe, room, state)
        )
        if self._closed:
            subscription.end(SHUTDOWN_REASON)
            return subscription
        # Registered before the channel and the stream are read: whatever is published from
        # now on is queued; start() drops what the backlog then holds too.
        state.subscribers.add(subscription)
        self._subscriptions += 1
        try:
            await self._listen_to(room, state)
            history, _ = await self._read(room, since)
        except BaseException:
            subscription.close()
            raise
        subscription.start(history.deliveries, history.last_id, history.lost)
        return subscription

    def _unsubscribe(self, room: str, state: _ReplicaRoom, subscription: LocalSubscription) -> None:
        if subscription in state.subscribers:
            state.subscribers.discard(subscription)
            self._subscriptions -= 1
        self._release(room, state)

    def _room(self, name: str) -> _ReplicaRoom:
        state = self._rooms.get(name)
        if state is None:
            state = self._rooms[name] = _ReplicaRoom()
        return state

    def _release(self, name: str, state: _ReplicaRoom) -> None:
        """Forget an idle room after ROOM_LINGER_S, unsubscribing its channel."""
        if not state.idle or self._rooms.get(name) is not state:
            return
        loop = asyncio.get_running_loop()
        state.idle_since = loop.time()
        loop.call_later(ROOM_LINGER_S, self._forget_if_idle, name, state)

    def _forget_if_idle(self, name: str, state: _ReplicaRoom) -> None:
        if self._rooms.get(name) is not state or not state.idle:
            return
        loop = asyncio.get_running_loop()
        if loop.time() - state.idle_since < ROOM_LINGER_S:
            return  # used again since; a later timer decides
        if state.listening is not None and not state.listening.done():
            return
        del self._rooms[name]
        if state.listening is not None and self._pubsub is not None:
            self._in_background(self._unlisten(self._pubsub, channel_name(name)))

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)  # a reference, so the task is not collected midway
        task.add_done_callback(self._background.discard)

    async def _unlisten(self, pubsub: PubSub, channel: bytes) -> None:
        with contextlib.suppress(Exception):  # the connection may be gone: nothing to undo
            await pubsub.unsubscribe(channel)

    async def _listen_to(self, room: str, state: _ReplicaRoom) -> None:
        """Subscribe this replica to the room's channel once; wait for the confirmation."""
        if state.listening is None:
            listening = state.listening = asyncio.get_running_loop().create_future()
            try:
                # One at a time: concurrent first subscribes would each open a connection.
                async with self._subscribing:
                    pubsub = self._pubsub
                    if pubsub is None:
                        pubsub = self._pubsub = self._redis.pubsub()
                    await pubsub.subscribe(channel_name(room))
                    if self._listener is None or self._listener.done():
                        self._listener = asyncio.create_task(self._listen(pubsub))
            except BaseException as exc:
                state.listening = None
                if not listening.done():  # others wait on it too: tell them
                    listening.set_exception(ConnectionError(f"redis subscribe failed: {exc!r}"))
                    listening.exception()
                raise
        # Shielded: one caller giving up must not cancel the future the others wait on.
        await asyncio.wait_for(asyncio.shield(state.listening), SUBSCRIBE_TIMEOUT_S)

    async def _listen(self, pubsub: PubSub) -> None:
        """Read the channels of this replica's rooms; fan each message out locally."""
        try:
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is None:
                    continue
                channel: bytes = message["channel"]
                state = self._rooms.get(channel[len(CHANNEL_PREFIX) :].decode())
                if state is None:
                    continue  # forgotten meanwhile
                kind = message["type"]
                if kind == "message":
                    await self._on_message(channel, state, message["data"])
                elif kind == "subscribe" and state.listening and not state.listening.done():
                    state.listening.set_result(None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("redis pub/sub connection lost: %s", exc)
            self._connection_lost(pubsub, exc)

    async def _on_message(self, channel: bytes, state: _ReplicaRoom, data: bytes) -> None:
        raw_id, _, stored = data.partition(b" ")
        message_id = int(raw_id)
        last_seen = state.last_seen
        if message_id <= last_seen:
            return  # already fanned out (fetched to fill a gap)
        if last_seen and message_id > last_seen + 1:
            # Pub/sub is at-most-once (a reconnect loses messages): take them from the stream.
            room = channel[len(CHANNEL_PREFIX) :].decode()
            missed = await self._read_after(room, last_seen)
            for delivery in missed.deliveries:
                if delivery.id < message_id:
                    self._fan_out(state, delivery)
        self._fan_out(state, stored_delivery(message_id, stored))

    def _fan_out(self, state: _ReplicaRoom, delivery: Delivery) -> None:
        recent = state.recent
        recent.append(delivery)
        before = delivery.server_at - self.history_max_age_s
        while recent[0].server_at < before:  # what Redis has aged out is not answered here
            recent.popleft()
        self._subscriptions -= state.deliver(delivery.live())

    def _connection_lost(self, pubsub: PubSub, exc: BaseException) -> None:
        """End every local subscription (clients resume from the stream on reconnect)."""
        if self._pubsub is pubsub:
            self._pubsub = None
        for state in self._rooms.values():
            if state.listening is not None and not state.listening.done():
                state.listening.set_exception(ConnectionError(f"redis pub/sub: {exc}"))
                state.listening.exception()  # retrieved: no "never retrieved" warning
            state.listening = None
            state.recent.clear()
        self._end_all(CONNECTION_LOST_REASON)
        self._in_background(_close_quietly(pubsub))

    async def close(self) -> None:
        """End every subscription and held wait, then the Redis connections (shutdown)."""
        self._closed = True
        self._end_all(SHUTDOWN_REASON)
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        if self._pubsub is not None:
            await _close_quietly(self._pubsub)
            self._pubsub = None
        with contextlib.suppress(Exception):  # the pool too: it was passed in, not owned
            await self._redis.aclose(close_connection_pool=True)


def _message_id(raw_entry_id: bytes) -> int:
    """N from the stream entry id `0-N`."""
    return int(raw_entry_id[2:])


async def _close_quietly(pubsub: PubSub) -> None:
    with contextlib.suppress(Exception):
        await pubsub.aclose()
