"""The load generator takes the "history lost" answer for what it is, not for a bad message."""

from __future__ import annotations

from contract.messages import is_history_lost


def test_the_websocket_frame_and_the_sse_event_data_are_recognised():
    assert is_history_lost({"history_lost": {"since": 3, "oldest_id": 90}})
    assert is_history_lost({"since": 3, "oldest_id": 90})


def test_a_message_is_not_a_history_lost_answer():
    message = {"id": 5, "room": "r", "sender": "s", "seq": 1, "body": "", "sent_at": 1.0}
    assert not is_history_lost(message)
    assert not is_history_lost({"since": 3})
    assert not is_history_lost([1, 2])
