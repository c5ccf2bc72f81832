"""Which registered targets the conformance suite runs on which broker."""

from __future__ import annotations

from contract.registry import ASGI_LAUNCHER, TARGETS

# Every target on the in-process broker; on Redis, those the shared launcher starts (the
# Lambda emulator keeps its connections in DynamoDB and has no room broker to swap).
BROKER_TARGETS: dict[str, list[str]] = {
    "memory": list(TARGETS),
    "redis": [name for name, spec in TARGETS.items() if spec.launcher == ASGI_LAUNCHER],
}
