"""Delivered / expected / lost / duplicated / out-of-order, from `sender` + `seq` alone.

Publishers record in a ledger what they sent (room, sender, seq, sent_at), acknowledged sends
only. Receivers record, per sender, the runs of seqs they saw. At the end the ledgers of every
process are merged and each receiver is held to: every message published to its room while it
was a member, its own included — `sent_at` after it joined and before it left, each with a
JOIN_MARGIN_S margin, because a message sent in the same instant as a subscription may race
it on any transport. Messages inside the margins count neither as expected nor as lost.
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Iterable, Mapping

from contract.loadgen import DeliveryCounts
from loadtests.exchange import ReceiverRecord, SenderRecord

JOIN_MARGIN_S = 0.25


class Receipt(enum.IntEnum):
    """What one received (sender, seq) was, relative to what this receiver saw before."""

    NEW = 0
    DUPLICATE = 1
    OUT_OF_ORDER = 2  # new, but lower than a seq of the same sender already seen


class ReceiveLog:
    """One receiver's view: per sender the seqs seen, as sorted runs [start, end, start, end..]."""

    __slots__ = (
        "duplicates",
        "joined_at",
        "left_at",
        "out_of_order",
        "receipts",
        "room",
        "runs",
    )

    def __init__(self, room: str, joined_at: float) -> None:
        self.room = room
        self.joined_at = joined_at
        self.left_at: float | None = None
        self.runs: dict[str, list[int]] = {}
        self.receipts = 0
        self.duplicates = 0
        self.out_of_order = 0

    def record(self, sender: str, seq: int) -> Receipt:
        """Note one received message."""
        self.receipts += 1
        runs = self.runs.get(sender)
        if runs is None:
            self.runs[sender] = [seq, seq]
            return Receipt.NEW
        last_end = runs[-1]
        if seq == last_end + 1:  # the common case: the next one
            runs[-1] = seq
            return Receipt.NEW
        if seq > last_end:  # a gap: maybe lost, maybe still on its way
            runs += (seq, seq)
            return Receipt.NEW
        return self._record_behind(runs, seq)

    def _record_behind(self, runs: list[int], seq: int) -> Receipt:
        starts = runs[0::2]
        index = bisect.bisect_right(starts, seq) - 1
        if index >= 0 and runs[2 * index] <= seq <= runs[2 * index + 1]:
            self.duplicates += 1
            return Receipt.DUPLICATE
        self.out_of_order += 1
        # insert [seq, seq] after run `index`, then merge with its neighbours
        position = 2 * (index + 1)
        runs[position:position] = [seq, seq]
        merged: list[int] = []
        for i in range(0, len(runs), 2):
            if merged and runs[i] == merged[-1] + 1:
                merged[-1] = runs[i + 1]
            else:
                merged += (runs[i], runs[i + 1])
        runs[:] = merged
        return Receipt.OUT_OF_ORDER

    def to_record(self) -> ReceiverRecord:
        """The log as the master and the results take it."""
        return ReceiverRecord(
            room=self.room,
            joined_at=self.joined_at,
            left_at=self.left_at,
            runs=self.runs,
            receipts=self.receipts,
            duplicates=self.duplicates,
            out_of_order=self.out_of_order,
        )


class PublishLedger:
    """Per room, per sender: every acknowledged publish of this process."""

    def __init__(self) -> None:
        self.rooms: dict[str, dict[str, SenderRecord]] = {}

    def record(self, room: str, sender: str, seq: int, sent_at: float) -> None:
        """Note one acknowledged publish."""
        senders = self.rooms.setdefault(room, {})
        ledger = senders.get(sender)
        if ledger is None:
            ledger = senders[sender] = SenderRecord()
        ledger.seqs.append(seq)
        ledger.sent_at.append(sent_at)

    @property
    def published(self) -> int:
        """Acknowledged publishes in all rooms."""
        return sum(len(s.seqs) for senders in self.rooms.values() for s in senders.values())

    def merge(self, rooms: Mapping[str, Mapping[str, SenderRecord]]) -> None:
        """Add another process's ledger (senders are unique per process)."""
        for room, senders in rooms.items():
            target = self.rooms.setdefault(room, {})
            for sender, sent in senders.items():
                ledger = target.setdefault(sender, SenderRecord())
                ledger.seqs.extend(sent.seqs)
                ledger.sent_at.extend(sent.sent_at)


def _count_in_runs(runs: list[int], seqs: list[int]) -> int:
    """How many of the ascending `seqs` fall inside the sorted runs."""
    if not seqs:
        return 0
    low, high = seqs[0], seqs[-1]
    if high - low + 1 == len(seqs):  # contiguous: intersect intervals
        total = 0
        for i in range(0, len(runs), 2):
            start, end = max(runs[i], low), min(runs[i + 1], high)
            if start <= end:
                total += end - start + 1
        return total
    starts = runs[0::2]
    found = 0
    for seq in seqs:
        index = bisect.bisect_right(starts, seq) - 1
        if index >= 0 and seq <= runs[2 * index + 1]:
            found += 1
    return found


def _distinct(runs: list[int]) -> int:
    return sum(runs[i + 1] - runs[i] + 1 for i in range(0, len(runs), 2))


def tally(
    ledger: PublishLedger,
    receivers: Iterable[ReceiverRecord],
    left_at_default: float,
    margin_s: float = JOIN_MARGIN_S,
) -> DeliveryCounts:
    """Hold every receiver to its room's merged ledger."""
    result = DeliveryCounts(published=ledger.published)
    for receiver in receivers:
        expected_here, delivered_here = _owed(
            ledger, receiver.room, receiver.runs, _membership(receiver, left_at_default, margin_s)
        )
        distinct = sum(_distinct(runs) for runs in receiver.runs.values())
        result.receivers += 1
        result.receipts += receiver.receipts
        result.duplicated += receiver.duplicates
        result.out_of_order += receiver.out_of_order
        result.expected += expected_here
        result.delivered += delivered_here
        result.unexpected += distinct - delivered_here
    result.lost = result.expected - result.delivered
    return result


def tally_windows(
    ledger: PublishLedger,
    receivers: Iterable[ReceiverRecord],
    left_at_default: float,
    windows: Iterable[tuple[float, float]],
    margin_s: float = JOIN_MARGIN_S,
) -> list[tuple[int, int, int]]:
    """(expected, delivered, lost_everywhere) of the messages sent in each [start, end) window.

    `lost_everywhere`: expected deliveries of messages that no receiver in the room got at
    all — the server never took them (sent into a connection as it broke) or failed them for
    everyone (a throttled Lambda invocation), as opposed to messages some receivers got.
    """
    spans = list(windows)
    receivers = list(receivers)
    reached = _reached_anyone(receivers)
    totals = [[0, 0, 0] for _ in spans]
    for receiver in receivers:
        member_from, member_to = _membership(receiver, left_at_default, margin_s)
        somebody = reached.get(receiver.room, {})
        for total, (start, end) in zip(totals, spans, strict=True):
            span = (max(member_from, start), min(member_to, end))
            expected, delivered = _owed(ledger, receiver.room, receiver.runs, span)
            _, reached_somebody = _owed(ledger, receiver.room, somebody, span)
            total[0] += expected
            total[1] += delivered
            total[2] += expected - reached_somebody
    return [(expected, delivered, everywhere) for expected, delivered, everywhere in totals]


def _reached_anyone(receivers: list[ReceiverRecord]) -> dict[str, dict[str, list[int]]]:
    """Per room and sender, the union of every receiver's runs (what reached anybody)."""
    intervals: dict[str, dict[str, list[tuple[int, int]]]] = {}
    for receiver in receivers:
        senders = intervals.setdefault(receiver.room, {})
        for sender, runs in receiver.runs.items():
            spans = senders.setdefault(sender, [])
            spans.extend((runs[i], runs[i + 1]) for i in range(0, len(runs), 2))
    union: dict[str, dict[str, list[int]]] = {}
    for room, senders in intervals.items():
        for sender, spans in senders.items():
            merged: list[int] = []
            for start, end in sorted(spans):
                if merged and start <= merged[-1] + 1:
                    merged[-1] = max(merged[-1], end)
                else:
                    merged += (start, end)
            union.setdefault(room, {})[sender] = merged
    return union


def _membership(
    receiver: ReceiverRecord, left_at_default: float, margin_s: float
) -> tuple[float, float]:
    """The sent_at span a receiver is held to: its membership less the margins."""
    left_at = receiver.left_at if receiver.left_at is not None else left_at_default
    return receiver.joined_at + margin_s, left_at - margin_s


def _owed(
    ledger: PublishLedger,
    room: str,
    runs_by_sender: Mapping[str, list[int]],
    span: tuple[float, float],
) -> tuple[int, int]:
    """(expected, delivered) for one receiver: its room's messages sent inside `span`."""
    window_start, window_end = span
    expected = delivered = 0
    if window_end <= window_start:
        return 0, 0
    for sender, sent in ledger.rooms.get(room, {}).items():
        first = bisect.bisect_right(sent.sent_at, window_start)
        last = bisect.bisect_left(sent.sent_at, window_end)
        if last <= first:
            continue
        expected_seqs = sent.seqs[first:last]
        expected += len(expected_seqs)
        delivered += _count_in_runs(runs_by_sender.get(sender, []), expected_seqs)
    return expected, delivered
