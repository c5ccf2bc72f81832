"""The URLs of a target's endpoints (docs/protocol.md), derived from its base URL."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

_HTTP_SCHEME = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


def http_root(base_url: str) -> str:
    """`scheme://host:port` over HTTP(S), whatever the base URL's scheme and path."""
    parts = urlsplit(base_url)
    scheme = _HTTP_SCHEME.get(parts.scheme)
    if scheme is None:
        raise ValueError(f"unsupported URL scheme in {base_url!r}")
    return urlunsplit((scheme, parts.netloc, "", "", ""))


def health_url(base_url: str) -> str:
    """`GET /healthz`, served by every target at its root."""
    return f"{http_root(base_url)}/healthz"


def messages_url(base_url: str, room: str) -> str:
    """`/rooms/{room}/messages`: publish (POST) and poll (GET)."""
    return f"{base_url.rstrip('/')}/rooms/{room}/messages"


def events_url(base_url: str, room: str) -> str:
    """`/rooms/{room}/events`: the SSE stream."""
    return f"{base_url.rstrip('/')}/rooms/{room}/events"


def websocket_url(base_url: str, room: str, cursor: int | None = None) -> str:
    """The WebSocket endpoint with `?room=R[&since=ID]`."""
    query: dict[str, str | int] = {"room": room}
    if cursor is not None:
        query["since"] = cursor
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), ""))
