"""The Redis broker against a real redis-server: two broker instances stand for two replicas."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis.asyncio as redis

from contract.messages import Publish, decode_message
from servers.brokers import redis_streams as redis_broker
from servers.brokers.factory import make_broker
from servers.brokers.fanout import DROP_REASON, SHUTDOWN_REASON, RoomFanout
from servers.brokers.redis_streams import RedisBroker, channel_name, stream_key
from servers.brokers.seam import History, HistoryLost
from servers.settings import Settings
from tbench.redis_server import RedisServer
from tests.servers.helpers import take
from tests.waiting import wait_until_async


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=20))


@pytest.fixture
def room() -> str:
    return f"r-{uuid.uuid4().hex[:12]}"


@asynccontextmanager
async def replicas(
    server: RedisServer, count: int = 2, **options: float
) -> AsyncIterator[list[RedisBroker]]:
    brokers = [RedisBroker(server.url, **options) for _ in range(count)]
    try:
        yield brokers
    finally:
        for broker in brokers:
            await broker.close()


class _ChangeFuture(asyncio.Future[None]):
    """A room's change future that counts the waits blocked on it (asyncio.wait adds one
    done-callback per waiter)."""

    blocked = 0

    def add_done_callback(self, fn: Any, *, context: Any = None) -> None:
        self.blocked += 1
        super().add_done_callback(fn, context=context)


@pytest.fixture
def blocked_waits(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """How many `wait_for` calls are blocked on a change now: past their first read."""
    futures: list[_ChangeFuture] = []

    def next_change(state: RoomFanout) -> asyncio.Future[None]:
        if state.changed is None:
            state.changed = _ChangeFuture()
            futures.append(state.changed)
        return state.changed

    monkeypatch.setattr(RoomFanout, "next_change", next_change)
    return lambda: sum(future.blocked for future in futures if not future.done())


def post(room: str, seq: int = 1, sender: str = "s") -> Publish:
    return Publish(room, sender, seq, f"body {seq}", 1.0)


def test_ids_are_small_per_room_and_strictly_increasing_across_replicas(redis_server, room):
    async def scenario() -> None:
        async with replicas(redis_server) as (a, b):
            other = room + "-other"
            ids = [(await (a if seq % 2 else b).publish(post(room, seq))).id for seq in range(1, 7)]
            assert ids == [1, 2, 3, 4, 5, 6]
            assert (await b.publish(post(other))).id == 1
            # Concurrent publishers on both replicas: every id once, no gap.
            tasks = [
                broker.publish(post(room, seq, sender))
                for seq in range(1, 51)
                for broker, sender in ((a, "pa"), (b, "pb"))
            ]
            concurrent = sorted(d.id for d in await asyncio.gather(*tasks))
            assert concurrent == list(range(7, 107))
            stored = (await a.history(room, 0)).deliveries
            assert [d.id for d in stored] == list(range(1, 107))
            message = decode_message(stored[0].data)
            assert (message.id, message.room, message.sender, message.seq) == (1, room, "s", 1)
            assert message.server_at > 0

    run(scenario)


def test_history_cursor_rules_match_the_protocol(redis_server, room):
    async def scenario() -> None:
        async with replicas(redis_server, 1) as (broker,):
            assert await broker.history(room, None) == History([], 0)
            for seq in range(1, 6):
                await broker.publish(post(room, seq))
            assert (await broker.history(room, None)) == History([], 5)
            assert [d.id for d in (await broker.history(room, 2)).deliveries] == [3, 4, 5]
            assert (await broker.history(room, 5)).deliveries == []
            # A cursor ahead of the room (history lost) counts as 0.
            assert [d.id for d in (await broker.history(room, 99)).deliveries] == [1, 2, 3, 4, 5]

    run(scenario)


def test_history_is_bounded_like_the_ring(redis_server, room):
    async def scenario() -> None:
        async with replicas(redis_server, 1, history_size=3) as (broker,):
            for seq in range(1, 8):
                await broker.publish(post(room, seq))
            assert [d.id for d in (await broker.history(room, 0)).deliveries] == [5, 6, 7]
            assert [d.id for d in (await broker.history(room, 5)).deliveries] == [6, 7]
            client = redis.Redis.from_url(redis_server.url)
            assert await client.xlen(stream_key(room)) == 3
            await client.aclose()

    run(scenario)


def test_subscriber_on_one_replica_gets_what_another_publishes(redis_server, room):
    async def scenario() -> None:
        async with replicas(redis_server) as (a, b):
            here = await a.subscribe(room, None)
            for seq in range(1, 4):
                await b.publish(post(room, seq))
            delivered = [await asyncio.wait_for(anext(here), 5) for _ in range(3)]
            assert [d.id for d in delivered] == [1, 2, 3]
            assert [decode_message(d.data).seq for d in delivered] == [1, 2, 3]
            here.close()
            assert a.connection_count() == 0

    run(scenario)


def test_resume_on_another_replica_continues_without_gap(redis_server, room):
    async def scenario() -> None:
        async with replicas(redis_server) as (a, b):
            first = await a.subscribe(room, None)
            for seq in range(1, 4):
                await a.publish(post(room, seq))
            assert await take(first, 2) == [1, 2]
            first.close()  # lost replica A after seeing id 2
            for seq in range(4, 6):
                await a.publish(post(room, seq))
            resumed = await b.subscribe(room, 2)
            await b.publish(post(room, 6))
            assert await take(resumed, 4) == [3, 4, 5, 6]
            resumed.close()

    run(scenario)


def test_backlog_then_live_has_no_gap_while_others_publish(redis_server, room):
    async def scenario() -> None:
        async with replicas(redis_server, queue_size=10_000) as (a, b):
            published: list[int] = []

            async def publisher(broker: RedisBroker, sender: str) -> None:
                for seq in range(1, 101):
                    await broker.publish(post(room, seq, sender))
                    published.append(seq)

            async def joiner(broker: RedisBroker) -> list[int]:
                await wait_until_async(lambda: len(published) >= 20, "publishing under way")
                subscription = await broker.subscribe(room, 0)
                try:
                    return await take(subscription, 200)
                finally:
                    subscription.close()

            results = await asyncio.gather(
                publisher(a, "pa"), publisher(b, "pb"), joiner(a), joiner(b)
            )
            for ids in results[2:]:
                assert ids == list(range(1, 201))

    run(scenario)


def test_one_channel_subscription_per_room_per_replica(redis_server, room):
    async def scenario() -> None:
        client = redis.Redis.from_url(redis_server.url)
        async with replicas(redis_server) as (a, b):
            subscriptions = [await a.subscribe(room, None) for _ in range(20)]
            subscriptions += [await b.subscribe(room, None) for _ in range(5)]
            [(_, listeners)] = await client.pubsub_numsub(channel_name(room))
            assert listeners == 2
            await b.publish(post(room))
            for subscription in subscriptions:
                assert await take(subscription, 1) == [1]
                subscription.close()
        await client.aclose()

    run(scenario)


def test_idle_rooms_unsubscribe_after_lingering(redis_server, room, monkeypatch):
    monkeypatch.setattr(redis_broker, "ROOM_LINGER_S", 0.05)

    async def scenario() -> None:
        client = redis.Redis.from_url(redis_server.url)
        async with replicas(redis_server, 1) as (broker,):
            subscription = await broker.subscribe(room, None)
            assert broker.room_count() == 1
            subscription.close()
            await wait_until_async(lambda: broker.room_count() == 0)

            async def unsubscribed() -> bool:
                [(_, listeners)] = await client.pubsub_numsub(channel_name(room))
                return int(listeners) == 0

            await wait_until_async(unsubscribed, "the room's channel unsubscribed in Redis")
        await client.aclose()

    run(scenario)


def test_a_message_missed_on_the_channel_is_taken_from_the_stream(redis_server, room):
    async def scenario() -> None:
        client = redis.Redis.from_url(redis_server.url)
        async with replicas(redis_server, 1) as (broker,):
            subscription = await broker.subscribe(room, None)
            await broker.publish(post(room, 1))
            assert await take(subscription, 1) == [1]
            # Id 2 reaches the stream but not the channel (as when pub/sub reconnects).
            stored = post(room, 2).to_message(None, 2.0).encode()
            await client.xadd(stream_key(room), {"m": stored}, id="0-2")
            await broker.publish(post(room, 3))
            assert await take(subscription, 2) == [2, 3]
            subscription.close()
        await client.aclose()

    run(scenario)


def test_slow_consumer_is_dropped_on_its_replica_only(redis_server, room):
    async def scenario() -> None:
        async with replicas(redis_server, queue_size=3) as (a, b):
            slow = await a.subscribe(room, None)
            fast = await b.subscribe(room, None)
            for seq in range(1, 5):
                await b.publish(post(room, seq))
                assert await take(fast, 1) == [seq]
            await wait_until_async(lambda: slow.dropped)
            assert slow.end_reason == "slow consumer: send queue of 3 messages full"
            assert [d.id async for d in slow] == []
            assert a.connection_count() == 0
            assert b.connection_count() == 1
            slow.close()
            fast.close()

    run(scenario)


def test_wait_for_is_woken_by_a_publish_on_another_replica(redis_server, room, blocked_waits):
    async def scenario() -> None:
        async with replicas(redis_server) as (a, b):
            await b.publish(post(room, 1))
            assert [d.id for d in (await a.wait_for(room, 0, 30)).deliveries] == [1]
            # A cursor, not "now": the answer is the same however late a waiter reads first.
            waiters = [asyncio.create_task(a.wait_for(room, 1, 30)) for _ in range(3)]
            await wait_until_async(lambda: blocked_waits() == 3, "3 waits past their first read")
            await b.publish(post(room, 2))
            for history in await asyncio.gather(*waiters):
                assert [d.id for d in history.deliveries] == [2]
                assert history.last_id == 2
            assert a.connection_count() == 0
            assert await a.wait_for(room, 2, 0.05) == History([], 2)

    run(scenario)


def test_wait_for_falls_back_to_the_stream_when_recent_ones_do_not_reach(
    redis_server, room, monkeypatch, blocked_waits
):
    monkeypatch.setattr(redis_broker, "RECENT_SIZE", 2)

    async def scenario() -> None:
        async with replicas(redis_server) as (a, b):
            await b.publish(post(room, 1))
            waiter = asyncio.create_task(a.wait_for(room, 1, 30))
            await wait_until_async(lambda: blocked_waits() == 1, "the wait past its first read")
            await asyncio.gather(*(b.publish(post(room, seq)) for seq in range(2, 7)))
            history = await waiter
            ids = [d.id for d in history.deliveries]
            assert ids == list(range(2, ids[-1] + 1))

    run(scenario)


def test_drop_all_and_close_end_local_connections(redis_server, room):
    async def scenario() -> None:
        async with replicas(redis_server) as (a, b):
            await a.publish(post(room, 1))
            subscription = await a.subscribe(room, 1)
            waiter = asyncio.create_task(a.wait_for(room, 1, 30))
            other = await b.subscribe(room, 1)
            await wait_until_async(lambda: a.connection_count() == 2)
            assert await a.drop_all() == 2
            assert [d async for d in subscription] == []
            assert subscription.end_reason == DROP_REASON
            assert (await asyncio.wait_for(waiter, 5)).deliveries == []
            assert b.connection_count() == 1  # the other replica's clients stay
            resumed = await a.subscribe(room, 1)
            await b.publish(post(room, 2))
            assert await take(resumed, 1) == [2]
            assert await take(other, 1) == [2]
            await b.close()
            assert [d async for d in other] == []
            assert other.end_reason == SHUTDOWN_REASON
            subscription.close()
            resumed.close()

    run(scenario)


def test_make_broker_picks_redis_by_url(redis_server):
    async def scenario() -> None:
        broker = make_broker(Settings(broker_url=redis_server.url, history_size=5, queue_size=7))
        assert isinstance(broker, RedisBroker)
        assert (broker.history_size, broker.queue_size) == (5, 7)
        await broker.close()

    run(scenario)


def test_many_rooms_subscribed_at_once_on_a_fresh_replica(redis_server, room, blocked_waits):
    async def scenario() -> None:
        async with replicas(redis_server) as (a, b):
            rooms = [f"{room}-{index}" for index in range(50)]
            subscriptions = await asyncio.gather(*(a.subscribe(name, None) for name in rooms))
            waits = [asyncio.create_task(b.wait_for(name, 0, 10)) for name in rooms]
            await wait_until_async(lambda: blocked_waits() == len(rooms), "every wait blocked")
            await asyncio.gather(*(b.publish(post(name)) for name in rooms))
            for subscription in subscriptions:
                assert await take(subscription, 1) == [1]
                subscription.close()
            for history in await asyncio.gather(*waits):
                assert [d.id for d in history.deliveries] == [1]

    run(scenario)


def test_a_poll_resuming_from_the_newest_id_here_costs_no_redis_round_trip(redis_server, room):
    async def scripts_run(client: redis.Redis) -> int:
        stats = await client.info("commandstats")
        return sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("eval", "evalsha"))

    async def scenario() -> None:
        client = redis.Redis.from_url(redis_server.url)
        async with replicas(redis_server) as (a, b):
            first = asyncio.create_task(a.wait_for(room, 0, 10))
            await wait_until_async(lambda: a.connection_count() == 1)
            await b.publish(post(room, 1))
            assert [d.id for d in (await first).deliveries] == [1]
            before = await scripts_run(client)
            held = asyncio.create_task(a.wait_for(room, 1, 10))  # the steady state
            await wait_until_async(lambda: a.connection_count() == 1)
            await b.publish(post(room, 2))  # the one script call expected
            assert [d.id for d in (await held).deliveries] == [2]
            again = await a.wait_for(room, 1, 10)  # answered from what this replica has
            assert ([d.id for d in again.deliveries], again.last_id) == ([2], 2)
            assert await scripts_run(client) - before == 1
            # Cursors it cannot vouch for still go to Redis: none, and one ahead (stale).
            assert (await a.wait_for(room, None, 0.05)).last_id == 2
            assert [d.id for d in (await a.wait_for(room, 9, 0.05)).deliveries] == [1, 2]
        await client.aclose()

    run(scenario)


def test_a_lost_pub_sub_connection_loses_nothing(redis_server, room):
    async def scenario() -> None:
        client = redis.Redis.from_url(redis_server.url)
        async with replicas(redis_server) as (a, b):
            subscription = await a.subscribe(room, None)
            await b.publish(post(room, 1))
            assert await take(subscription, 1) == [1]
            await client.client_kill_filter(_type="pubsub")
            for seq in range(2, 5):
                await b.publish(post(room, seq))
            # Either the replica reconnected and filled the gap from the stream, or it ended
            # the subscription and the client resumes with its cursor: never a silent loss.
            got: list[int] = []
            while len(got) < 3:
                try:
                    got.append((await asyncio.wait_for(anext(subscription), 5)).id)
                except StopAsyncIteration:
                    assert subscription.end_reason == redis_broker.CONNECTION_LOST_REASON
                    subscription.close()
                    subscription = await a.subscribe(room, 1 + len(got))
                except TimeoutError:
                    await b.publish(post(room, 10 + len(got)))  # a gap shows on the next one
            assert got[:3] == [2, 3, 4]
            subscription.close()
        await client.aclose()

    run(scenario)


def test_a_cursor_older_than_what_is_kept_is_answered_history_lost(redis_server, room):
    async def scenario() -> None:
        async with replicas(redis_server, history_size=3) as (a, b):
            for seq in range(1, 8):
                await a.publish(post(room, seq))  # keeps 5, 6, 7
            history = await b.history(room, 1)
            assert [d.id for d in history.deliveries] == [5, 6, 7]
            assert history.lost == HistoryLost(since=1, oldest_id=5)
            assert (await b.history(room, 4)).lost is None
            assert (await b.history(room, None)).lost is None
            held = await b.wait_for(room, 2, 30)  # answered at once, like any older cursor
            assert ([d.id for d in held.deliveries], held.lost) == ([5, 6, 7], HistoryLost(2, 5))
            subscription = await b.subscribe(room, 3)
            assert subscription.history_lost == HistoryLost(3, 5)
            assert await take(subscription, 3) == [5, 6, 7]
            subscription.close()
            resumed = await a.subscribe(room, 4)
            assert resumed.history_lost is None
            resumed.close()

    run(scenario)


def test_history_is_bounded_by_age_with_minid(redis_server, room):
    async def scenario() -> None:
        client = redis.Redis.from_url(redis_server.url)
        async with replicas(redis_server, history_max_age_s=0.2) as (a, b):
            for seq in range(1, 4):
                await a.publish(post(room, seq))
            await asyncio.sleep(0.3)  # tested: the age limit (0.2 s) passing
            for seq in range(4, 6):
                await b.publish(post(room, seq))  # trims 1-3 from the stream as it adds
            assert await client.xlen(stream_key(room)) == 2
            history = await a.history(room, 0)
            assert [d.id for d in history.deliveries] == [4, 5]
            assert history.lost == HistoryLost(0, 4)
            await asyncio.sleep(0.3)  # tested: aging with nothing published; reads skip it
            assert await b.history(room, 3) == History([], 5, HistoryLost(since=3, oldest_id=6))
            assert await b.history(room, 5) == History([], 5)
            assert (await a.publish(post(room, 6))).id == 6  # the newest id survives trimming
            assert await client.xlen(stream_key(room)) == 1
        await client.aclose()

    run(scenario)
