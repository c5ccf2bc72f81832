"""run.json's `held_equal`: the limits every target runs with, as the targets will read them."""

from __future__ import annotations

import pytest

from servers.settings import Settings
from tbench.runner.metadata import held_equal


def test_held_equal_limits_are_the_settings_defaults(monkeypatch: pytest.MonkeyPatch):
    for name in Settings().to_env():
        monkeypatch.delenv(name, raising=False)
    defaults = Settings()
    assert held_equal().limits.model_dump() == {
        "history_size": defaults.history_size,
        "history_max_age_s": defaults.history_max_age_s,
        "queue_size": defaults.queue_size,
        "long_poll_max_wait_s": defaults.long_poll_max_wait_s,
        "sse_ping_s": defaults.sse_ping_s,
        "max_message_bytes": defaults.max_message_bytes,
        "max_connections": defaults.max_connections,
        "request_timeout_s": defaults.request_timeout_s,
    }


def test_held_equal_limits_follow_the_environment_the_targets_inherit(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("TBENCH_MAX_CONNECTIONS", "20000")
    monkeypatch.setenv("TBENCH_REQUEST_TIMEOUT_S", "2.5")
    limits = held_equal().limits
    assert (limits.max_connections, limits.request_timeout_s) == (20_000, 2.5)


def test_held_equal_records_the_gc_thresholds_every_server_uses():
    from servers.launch import GC_THRESHOLDS

    assert held_equal().gc_thresholds == list(GC_THRESHOLDS)
