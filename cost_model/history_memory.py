"""Memory a task needs for its connections and for its rooms' history, apart.

A server holds memory per open connection and per message kept in history. History is
bounded per room by count and by age (docs/protocol.md "History"), so a room keeps
min(history_size, messages a second × max age) messages, whatever the length of the run. A
task holds the history of every room one of its users is in: at worst one room per user, at
most every room there is.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from cost_model.charges import ceil_whole

BYTES_PER_MB = Decimal(1024 * 1024)


@dataclass(frozen=True, kw_only=True)
class HistoryBound:
    """The servers' history bounds and the RSS one kept message costs (measured)."""

    history_size: int  # messages per room, at most
    history_max_age_s: Decimal  # none kept longer
    bytes_per_message: Decimal  # server RSS per retained message

    def kept_per_room(self, room_messages_per_s: Decimal) -> Decimal:
        """Messages a room publishing at this rate keeps: the count bound, or the age bound's."""
        return min(Decimal(self.history_size), room_messages_per_s * self.history_max_age_s)

    def mb_per_room(self, room_messages_per_s: Decimal) -> Decimal:
        """MB of one room's history at this rate."""
        return self.kept_per_room(room_messages_per_s) * self.bytes_per_message / BYTES_PER_MB


def tasks_for_memory(
    *,
    users: Decimal,
    rooms: Decimal,
    mb_per_connection: Decimal,
    mb_per_room: Decimal,
    usable_mb_per_task: Decimal,
) -> Decimal:
    """The fewest tasks whose usable memory holds their users' connections and their rooms'
    history (ValueError when one task has no usable memory).

    A task of u users holds u × per connection + min(u, rooms) × per room; either bound of
    the min is a fleet that fits, so the fewer tasks of the two is what memory needs.
    """
    if usable_mb_per_task <= 0:
        raise ValueError("a task has no memory beyond the server's base")
    one_room_each = ceil_whole(users * (mb_per_connection + mb_per_room) / usable_mb_per_task)
    every_room_mb = rooms * mb_per_room
    if every_room_mb >= usable_mb_per_task:
        return one_room_each
    every_room = ceil_whole(users * mb_per_connection / (usable_mb_per_task - every_room_mb))
    return min(one_room_each, every_room)
