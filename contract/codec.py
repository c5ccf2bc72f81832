"""The one JSON codec every part uses (orjson: fast, strict UTF-8, bytes out)."""

from __future__ import annotations

from typing import Any

import orjson

JSONDecodeError = orjson.JSONDecodeError


def dumps(obj: Any) -> bytes:
    """Serialize to compact JSON bytes."""
    return orjson.dumps(obj)


def dumps_str(obj: Any) -> str:
    """Serialize to compact JSON text (for WebSocket text frames and SSE data lines)."""
    return orjson.dumps(obj).decode()


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON; raises JSONDecodeError (a ValueError) on malformed or non-UTF-8 input."""
    return orjson.loads(data)
