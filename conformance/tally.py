"""Loss, duplicates and reordering from `sender` + `seq`, without trusting the server."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from contract.messages import Message

MessageKey = tuple[str, int]  # (sender, seq): what the publisher set, so what a client can check
LISTED = 8  # keys named in a reason before "…"


def key_of(message: Message) -> MessageKey:
    """The publisher-set identity of a message."""
    return (message.sender, message.seq)


def label(key: MessageKey) -> str:
    """`u2#10`."""
    return f"{key[0]}#{key[1]}"


def listing(keys: Sequence[MessageKey]) -> str:
    """The first few keys as `u1#3, u2#10, …`."""
    shown = ", ".join(label(key) for key in keys[:LISTED])
    return shown + (f", … ({len(keys) - LISTED} more)" if len(keys) > LISTED else "")


@dataclass(frozen=True)
class Tally:
    """One member's delivery against what was published to its room."""

    expected: int
    received: int
    lost: list[MessageKey] = field(default_factory=list)
    duplicated: list[MessageKey] = field(default_factory=list)
    out_of_order: list[MessageKey] = field(default_factory=list)
    unexpected: list[MessageKey] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Every expected message exactly once, in per-sender order, nothing else."""
        return not (self.lost or self.duplicated or self.out_of_order or self.unexpected)

    @property
    def only_reordered(self) -> bool:
        """Everything arrived exactly once, but not in per-sender order."""
        return bool(self.out_of_order) and not (self.lost or self.duplicated or self.unexpected)

    def problems(self) -> list[str]:
        """Each kind of discrepancy as a phrase naming the messages."""
        phrases = []
        if self.lost:
            phrases.append(
                f"lost {len(self.lost)} of {self.expected} messages: {listing(self.lost)}"
            )
        if self.duplicated:
            phrases.append(f"got {len(self.duplicated)} duplicates: {listing(self.duplicated)}")
        if self.out_of_order:
            phrases.append(
                f"got {len(self.out_of_order)} out of order: {listing(self.out_of_order)}"
            )
        if self.unexpected:
            phrases.append(
                f"got {len(self.unexpected)} not published to its room: {listing(self.unexpected)}"
            )
        return phrases


def tally(expected: Sequence[MessageKey], received: Sequence[Message]) -> Tally:
    """Compare what a member received with what was published, per sender in seq order."""
    wanted = set(expected)
    counts = Counter(key_of(message) for message in received)
    last_seq: dict[str, int] = {}
    out_of_order: list[MessageKey] = []
    seen: set[MessageKey] = set()
    for message in received:
        key = key_of(message)
        if key in seen or key not in wanted:
            continue
        seen.add(key)
        if message.seq < last_seq.get(message.sender, 0):
            out_of_order.append(key)
        last_seq[message.sender] = max(message.seq, last_seq.get(message.sender, 0))
    return Tally(
        expected=len(expected),
        received=len(received),
        lost=[key for key in expected if key not in counts],
        duplicated=[key for key, count in counts.items() if count > 1 and key in wanted],
        out_of_order=out_of_order,
        unexpected=[key for key in counts if key not in wanted],
    )


def describe(tallies: dict[str, Tally]) -> str | None:
    """A reason naming each member's discrepancies, or None if every member is clean.

    Members with identical discrepancies are reported together, so a server that drops
    the same messages for everyone reads as one finding.
    """
    grouped: dict[str, list[str]] = {}
    for member, result in tallies.items():
        if not result.clean:
            grouped.setdefault("; ".join(result.problems()), []).append(member)
    if not grouped:
        return None
    parts = []
    for problems, members in grouped.items():
        who = (
            f"every member ({len(members)})"
            if len(members) == len(tallies) and len(members) > 1
            else ", ".join(members)
        )
        parts.append(f"{who} {problems}")
    return " | ".join(parts)
