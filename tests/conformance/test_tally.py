from __future__ import annotations

from conformance.tally import describe, tally
from contract.messages import Message


def _messages(*keys: tuple[str, int], room: str = "r") -> list[Message]:
    return [Message(i, room, sender, seq, "", 0.0, 0.0) for i, (sender, seq) in enumerate(keys, 1)]


EXPECTED = [("u1", 1), ("u1", 2), ("u2", 1), ("u2", 2)]


def test_interleaved_senders_in_per_sender_order_are_clean():
    result = tally(EXPECTED, _messages(("u2", 1), ("u1", 1), ("u1", 2), ("u2", 2)))
    assert result.clean
    assert describe({"m1": result}) is None


def test_loss_duplicates_reordering_and_strays_are_each_named():
    received = _messages(("u1", 2), ("u1", 1), ("u1", 2), ("u2", 1), ("x", 9))
    result = tally(EXPECTED, received)
    assert result.lost == [("u2", 2)]
    assert result.duplicated == [("u1", 2)]
    assert result.out_of_order == [("u1", 1)]
    assert result.unexpected == [("x", 9)]
    reason = describe({"m1": result})
    assert reason is not None
    assert "m1 lost 1 of 4 messages: u2#2" in reason
    assert "duplicates: u1#2" in reason
    assert "out of order: u1#1" in reason
    assert "not published to its room: x#9" in reason


def test_members_with_the_same_loss_are_reported_once():
    lossy = tally(EXPECTED, _messages(("u1", 1), ("u2", 1), ("u2", 2)))
    reason = describe({"m1": lossy, "m2": lossy})
    assert reason == "every member (2) lost 1 of 4 messages: u1#2"


def test_long_lists_are_cut_with_a_count():
    expected = [("u1", seq) for seq in range(1, 21)]
    reason = describe({"m1": tally(expected, [])})
    assert reason is not None
    assert reason.endswith("u1#8, … (12 more)")
