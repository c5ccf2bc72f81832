"""The strategies' labels and contract.messages agree on every generated payload (no server)."""

from __future__ import annotations

from hypothesis import given, settings

from contract.messages import Problem
from tests.fuzz.strategies import (
    FUZZ_SETTINGS,
    Payload,
    classify_frame,
    classify_publish,
    frames,
    publish_bodies,
)

ROOM = "room-1"
MANY = settings(FUZZ_SETTINGS, max_examples=100)  # no server


@MANY
@given(publish_bodies(ROOM))
def test_publish_labels_agree_with_tbench_messages(payload: Payload):
    verdict = classify_publish(payload.label, payload.data, ROOM)
    assert verdict.problem == payload.problem, payload.describe()


@MANY
@given(frames(ROOM))
def test_frame_labels_agree_with_tbench_messages(payload: Payload):
    if payload.binary:
        assert payload.problem is Problem.BINARY
        return
    verdict = classify_frame(payload.label, payload.data, ROOM)
    assert verdict.problem == payload.problem, payload.describe()
