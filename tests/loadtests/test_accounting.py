from __future__ import annotations

from loadtests.accounting import (
    JOIN_MARGIN_S,
    PublishLedger,
    Receipt,
    ReceiveLog,
    tally,
    tally_windows,
)


def test_in_order_seqs_collapse_into_one_run():
    log = ReceiveLog("r", joined_at=0.0)
    assert [log.record("a", seq) for seq in (1, 2, 3)] == [Receipt.NEW] * 3
    assert log.runs == {"a": [1, 3]}


def test_duplicates_and_late_arrivals_are_told_apart():
    log = ReceiveLog("r", joined_at=0.0)
    for seq in (1, 2, 4, 5):
        log.record("a", seq)
    assert log.record("a", 2) is Receipt.DUPLICATE
    assert log.record("a", 3) is Receipt.OUT_OF_ORDER  # fills the gap: runs merge
    assert log.runs == {"a": [1, 5]}
    assert log.record("a", 3) is Receipt.DUPLICATE
    assert (log.duplicates, log.out_of_order, log.receipts) == (2, 1, 7)


def _ledger(room: str, sender: str, sent_at: list[float]) -> PublishLedger:
    ledger = PublishLedger()
    for seq, at in enumerate(sent_at, start=1):
        ledger.record(room, sender, seq, at)
    return ledger


def test_tally_expects_only_what_was_published_while_the_receiver_was_in():
    # sender "p" publishes seq 1..10 at t = 1..10; the receiver joined at 3.5, left at 8.5
    ledger = _ledger("room", "p", [float(t) for t in range(1, 11)])
    log = ReceiveLog("room", joined_at=3.5)
    log.left_at = 8.5
    for seq in (4, 5, 7, 8):  # 6 is missing; 2 arrived early (inside no window)
        log.record("p", seq)
    log.record("p", 2)
    result = tally(ledger, [log.to_record()], left_at_default=100.0, margin_s=JOIN_MARGIN_S)
    assert (result.expected, result.delivered, result.lost) == (5, 4, 1)  # seqs 4..8
    assert result.unexpected == 1
    assert result.out_of_order == 1


def test_tally_merges_ledgers_from_several_processes():
    ledger = _ledger("room", "p1", [1.0, 2.0])
    ledger.merge(_ledger("room", "p2", [1.5, 2.5]).rooms)
    log = ReceiveLog("room", joined_at=0.0)
    for sender in ("p1", "p2"):
        log.record(sender, 1)
        log.record(sender, 2)
    result = tally(ledger, [log.to_record()], left_at_default=10.0)
    assert (result.published, result.expected, result.delivered, result.lost) == (4, 4, 4, 0)


def test_messages_of_other_rooms_are_not_expected():
    ledger = _ledger("other", "p", [1.0, 2.0])
    result = tally(ledger, [ReceiveLog("room", 0.0).to_record()], left_at_default=10.0)
    assert (result.expected, result.lost) == (0, 0)


def test_bulk_hdr_recording_builds_the_same_histogram():
    import random

    from contract.histograms import LatencySet, new_histogram

    rng = random.Random(7)
    fast, exact = LatencySet(), new_histogram()
    for _ in range(50_000):
        seconds = rng.lognormvariate(0, 3) / 1000
        fast.record("delivery", seconds)
        exact.record_value(max(1, min(3_600_000_000, int(seconds * 1e6))))
    fast.flush()
    histogram = fast.histograms["delivery"]
    assert histogram.get_total_count() == exact.get_total_count()
    for percentile in (0.1, 50, 90, 99, 99.9, 100):
        assert histogram.get_value_at_percentile(percentile) == exact.get_value_at_percentile(
            percentile
        )


def test_tally_windows_attributes_by_sent_at_and_tells_losses_everywhere_apart():
    # "p" publishes seq 1..10 at t = 1..10 into a room of two receivers (p's own echo and "q")
    ledger = _ledger("room", "p", [float(t) for t in range(1, 11)])
    own, other = ReceiveLog("room", joined_at=0.0), ReceiveLog("room", joined_at=0.0)
    for seq in (1, 2, 3, 4, 6, 7, 8, 9, 10):  # 5 reached nobody: the server never took it
        own.record("p", seq)
    for seq in (1, 2, 3, 4, 6, 9, 10):  # q also missed 7 and 8 (a reconnect without resume)
        other.record("p", seq)
    receivers = [own.to_record(), other.to_record()]
    windows = tally_windows(ledger, receivers, 20.0, [(0.0, 5.5), (5.5, 20.0)], margin_s=0.0)
    # window 1 (seqs 1..5): 10 owed, 8 delivered, both losses are seq 5 (lost everywhere)
    # window 2 (seqs 6..10): 10 owed, 8 delivered, none lost everywhere (own got 7 and 8)
    assert windows == [(10, 8, 2), (10, 8, 0)]
    whole = tally(ledger, receivers, 20.0, margin_s=0.0)
    assert (whole.expected, whole.delivered) == (20, 16)
