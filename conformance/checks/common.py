"""Helpers the checks share: publishing numbered series and summarising member troubles."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from conformance.result import Outcome, failed, warned
from conformance.subscriber import Subscriber
from conformance.tally import MessageKey, Tally, describe, label, tally
from contract.messages import Publish, padded_body
from contract.registry import TargetSpec

IDLE_TIMEOUT_S = 8.0  # no new message for this long: what has not arrived is not coming


def numbered(room: str, sender: str, seq: int, body_bytes: int = 64) -> Publish:
    """A publish whose body names it, stamped with the current wall clock."""
    return Publish(room, sender, seq, padded_body(body_bytes, f"{sender}#{seq} "), time.time())


async def publish_series(
    member: Subscriber, sender: str, count: int, *, first_seq: int = 1, body_bytes: int = 64
) -> list[MessageKey]:
    """Publish seq first_seq.. first_seq+count-1 as `sender` through `member`, in order."""
    keys = []
    for seq in range(first_seq, first_seq + count):
        await member.publish(numbered(member.room, sender, seq, body_bytes))
        keys.append((sender, seq))
    return keys


async def wait_all(members: Sequence[Subscriber], count: int) -> None:
    """Wait until each member has `count` messages, or has gone quiet."""
    await asyncio.gather(*(member.wait_for(count, IDLE_TIMEOUT_S) for member in members))


def member_troubles(members: Sequence[Subscriber]) -> str | None:
    """Contract violations seen on the wire, and subscriptions the server ended."""
    troubles = []
    for member in members:
        if member.errors:
            troubles.append(f"{member.name}: {'; '.join(member.errors[:3])}")
        if member.ended is not None:
            troubles.append(f"{member.name}'s subscription ended: {member.ended}")
    return " | ".join(troubles) if troubles else None


def delivery_failure(members: Sequence[Subscriber], expected: Sequence[MessageKey]) -> str | None:
    """Why delivery to `members` was wrong (loss, duplicates, order, stray messages), or None.

    Subscriptions the server ended are named too: they usually explain the loss.
    """
    tallies: dict[str, Tally] = {m.name: tally(expected, m.received) for m in members}
    problem = describe(tallies)
    if problem is None:
        return None
    ended = [f"{m.name}'s subscription ended: {m.ended}" for m in members if m.ended is not None]
    return " | ".join([problem, *ended])


def delivery_verdict(
    spec: TargetSpec, members: Sequence[Subscriber], expected: Sequence[MessageKey]
) -> Outcome | None:
    """FAIL for loss, duplicates or strays; None if delivery was exact.

    Reordering alone is a WARN on a target that assigns no ids: nothing sequences its rooms
    (API Gateway invokes Lambda concurrently), so per-sender order is not promised there.
    """
    problem = delivery_failure(members, expected)
    if problem is None:
        return None
    reordered_only = all(
        result.clean or result.only_reordered
        for result in (tally(expected, member.received) for member in members)
    )
    if reordered_only and not spec.assigns_ids and member_troubles(members) is None:
        return warned(f"{problem} (nothing sequences this target's rooms: order not promised)")
    return failed(problem)


def id_disagreements(members: Sequence[Subscriber]) -> str | None:
    """Messages that members saw under different ids (ids are per room, so must agree)."""
    ids: dict[MessageKey, int | None] = {}
    for member in members:
        for message in member.received:
            key = (message.sender, message.seq)
            if ids.setdefault(key, message.id) != message.id:
                return f"{label(key)} has id {ids[key]} for one member, {message.id} for another"
    return None
