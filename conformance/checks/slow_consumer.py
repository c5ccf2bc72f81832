"""A reader that stops reading is dropped and disconnected, not buffered without bound."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import psutil
from websockets.frames import CloseCode

from conformance.checks.common import (
    IDLE_TIMEOUT_S,
    delivery_failure,
    member_troubles,
    numbered,
)
from conformance.context import CheckContext
from conformance.result import Outcome, failed, passed, skipped, warned
from conformance.subscriber import Subscriber
from conformance.tally import MessageKey, listing
from conformance.websocket import WebSocketSubscriber

DEFAULT_QUEUE_SIZE = 1024  # docs/protocol.md: `--queue-size` default, for a server not saying
# Room for what sits between the server's queue and a reader that stopped reading: the
# server's socket send buffer (Linux autotunes it up to tcp_wmem's 4 MiB), the reader's
# receive window (not grown while it does not read) and both sides' transport buffers.
IN_FLIGHT_BYTES = 8 * 2**20
BODY_BYTES = 32 * 1024
MIB = 2**20
TCP_SYSCTLS = Path("/proc/sys/net/ipv4")
# the kernel's defaults for the largest autotuned buffers, where /proc does not say
TCP_RMEM_MAX = 6 * MIB
TCP_WMEM_MAX = 4 * MIB


def tcp_buffer_max(name: str, default: int) -> int:
    """The largest size Linux autotunes a socket buffer to (tcp_rmem / tcp_wmem's third value)."""
    try:
        return int((TCP_SYSCTLS / name).read_text().split()[2])
    except (OSError, IndexError, ValueError):
        return default


def proxy_in_flight_bytes() -> int:
    """What a proxy on the way (nginx before replicas) holds beyond a direct connection: its
    upstream socket's receive buffer, autotuned while the reader still read, and its send
    buffer towards the reader (behind compose's nginx, 42 MiB once all arrived)."""
    return tcp_buffer_max("tcp_rmem", TCP_RMEM_MAX) + tcp_buffer_max("tcp_wmem", TCP_WMEM_MAX)


def messages_needed(queue_size: int, in_flight_bytes: int = IN_FLIGHT_BYTES) -> int:
    """Enough messages to overflow the queue even after every buffer on the way is full."""
    return queue_size + in_flight_bytes // BODY_BYTES + 64


async def publish_paced(member: Subscriber, count: int) -> list[MessageKey]:
    """Publish one message at a time, each once `member` has received the previous one.

    Pacing by a reader that keeps up keeps that reader's own queue near empty, so only the
    stalled reader can overflow, however loaded the machine is.
    """
    keys = []
    for seq in range(1, count + 1):
        await member.publish(numbered(member.room, "s1", seq, BODY_BYTES))
        keys.append(("s1", seq))
        if await member.wait_for(seq, IDLE_TIMEOUT_S) < seq:
            break  # the paced reader lost one: reported from its tally
    return keys


def rss_bytes(pid: int | None) -> int | None:
    """The server's resident memory, when verify knows its pid."""
    if pid is None:
        return None
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return None


def gaps(received: list[MessageKey]) -> list[MessageKey]:
    """Messages skipped before later ones of the same sender (a silent drop, not a cut-off)."""
    seqs: dict[str, set[int]] = defaultdict(set)
    for sender, seq in received:
        seqs[sender].add(seq)
    return [
        (sender, seq)
        for sender, got in seqs.items()
        for seq in range(1, max(got) + 1)
        if seq not in got
    ]


def disconnect_verdict(stalled: Subscriber) -> tuple[bool, str]:
    """Whether the disconnect is the specified one, and how to describe it."""
    if isinstance(stalled, WebSocketSubscriber):
        return stalled.close_code == CloseCode.POLICY_VIOLATION, f"{stalled.ended}"
    return stalled.ended == "the server ended the event stream", f"{stalled.ended}"


@dataclass
class StallTrial:
    """One stalled reader in its own room, and what reached it once it read again."""

    room: str
    total: int  # messages published while it stalled
    expected: list[MessageKey]
    stalled: Subscriber
    got: int
    received: list[MessageKey]  # what the stalled reader got, in order
    skipped: list[MessageKey]  # `gaps` in it
    paced_problem: str | None
    memory: str  # the server's RSS change, when verify knows its pid

    @property
    def looks_unbounded(self) -> bool:
        """It got everything and nothing else went wrong: an unbounded queue, or a proxy's
        buffers holding what the queue dropped."""
        return self.got >= self.total and not self.paced_problem and not self.skipped


async def stall_reader(ctx: CheckContext, total: int) -> StallTrial:
    """Stall one reader while a paced member publishes `total` messages, then let it read."""
    room = ctx.new_room("slow")
    async with ctx.members(room, ["paced"]) as (paced,):
        stalled = ctx.subscriber("stalled")
        await stalled.connect(room, read=False)
        try:
            rss_before = rss_bytes(ctx.facts.pid)
            expected = await publish_paced(paced, total)
            rss_after = rss_bytes(ctx.facts.pid)
            stalled.start_reading()
            got = await stalled.wait_for(total, IDLE_TIMEOUT_S, deadline_s=60.0)
        finally:
            await stalled.close()
        paced_problem = delivery_failure([paced], expected) or member_troubles([paced])
    memory = ""
    if rss_before is not None and rss_after is not None:
        memory = (
            f"; server RSS {(rss_after - rss_before) / MIB:+.1f} MiB while "
            f"{total * BODY_BYTES / MIB:.0f} MiB were published"
        )
    received = [(m.sender, m.seq) for m in stalled.received]
    return StallTrial(
        room, total, expected, stalled, got, received, gaps(received), paced_problem, memory
    )


async def check_slow_consumer(ctx: CheckContext) -> Outcome:
    """Stall one reader while others publish past its queue, then read what it was sent.

    A reader that got everything may still sit behind a proxy whose buffers outgrew the
    allowance of a direct connection: only a second reader, stalled for as many more
    messages as a proxy can hold, getting everything too shows an unbounded queue.
    """
    if ctx.spec.family not in ("sse", "websocket"):
        return skipped("pull transport: the client paces delivery; no per-client queue")
    queue_size = (await ctx.known_facts()).queue_size or DEFAULT_QUEUE_SIZE
    trial = await stall_reader(ctx, messages_needed(queue_size))
    proxy_note = ""
    if trial.looks_unbounded:
        first = trial.total
        in_flight = IN_FLIGHT_BYTES + proxy_in_flight_bytes()
        trial = await stall_reader(ctx, messages_needed(queue_size, in_flight))
        proxy_note = (
            f" (a first reader got all {first}: sized again for a proxy's buffers, "
            f"{in_flight / MIB:.0f} MiB in flight)"
        )
    return await stall_verdict(ctx, queue_size, trial, proxy_note)


async def stall_verdict(
    ctx: CheckContext, queue_size: int, trial: StallTrial, proxy_note: str
) -> Outcome:
    """PASS for a stalled reader cut off as specified and able to resume; else why not."""
    stalled, total, got = trial.stalled, trial.total, trial.got
    if trial.paced_problem:
        return failed(f"a reader that kept up suffered too: {trial.paced_problem}")
    if trial.skipped:
        return failed(
            f"the stalled reader silently missed {len(trial.skipped)} messages before later ones: "
            f"{listing(trial.skipped)}"
        )
    if trial.looks_unbounded:
        return failed(
            f"a reader that stalled for {total} messages ({total * BODY_BYTES / MIB:.0f} MiB) "
            f"got them all later: queued without bound (queue size {queue_size}), "
            f"not dropped{trial.memory}{proxy_note}"
        )
    if stalled.ended is None:
        return failed(
            f"delivery to the stalled reader stopped after {got} of {total} messages but its "
            "connection was not ended"
        )
    specified, how = disconnect_verdict(stalled)
    summary = (
        f"stalled reader cut off after {got} of {total} messages: {how}{trial.memory}{proxy_note}"
    )
    if ctx.spec.supports_resume:
        cursor = stalled.cursor
        problem = await resume_problem(ctx, trial.room, cursor, trial.expected, set(trial.received))
        if problem:
            return failed(f"{summary}; resuming from id {cursor}: {problem}")
        summary += f"; resumed the other {total - got} from id {cursor}"
    return passed(summary) if specified else warned(f"{summary} (expected the specified close)")


async def resume_problem(
    ctx: CheckContext,
    room: str,
    cursor: int | None,
    expected: list[MessageKey],
    received: set[MessageKey],
) -> str | None:
    """Reconnecting from the dropped reader's cursor recovers the rest from the history ring."""
    missing = [key for key in expected if key not in received]
    resumed = ctx.subscriber("stalled-resumed")
    await resumed.connect(room, cursor)
    try:
        await resumed.wait_for(len(missing), IDLE_TIMEOUT_S, deadline_s=60.0)
    finally:
        await resumed.close()
    return delivery_failure([resumed], missing)
