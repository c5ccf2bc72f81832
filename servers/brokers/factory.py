"""The broker a server's settings name: the one place that knows every implementation."""

from __future__ import annotations

from servers.brokers.in_process import InProcessBroker
from servers.brokers.seam import Broker
from servers.settings import Settings


def make_broker(settings: Settings) -> Broker:
    """The broker named by `settings.broker_url` (`memory://` is the in-process one)."""
    scheme = settings.broker_url.split("://", 1)[0].lower()
    if scheme == "memory":
        return InProcessBroker(
            settings.history_size, settings.queue_size, settings.history_max_age_s
        )
    if scheme in ("redis", "rediss"):
        from servers.brokers.redis_streams import RedisBroker  # imports redis only when asked for

        return RedisBroker(
            settings.broker_url,
            settings.history_size,
            settings.queue_size,
            settings.history_max_age_s,
        )
    raise ValueError(
        f"unsupported broker URL {settings.broker_url!r}: use memory:// or redis://HOST:PORT"
    )
