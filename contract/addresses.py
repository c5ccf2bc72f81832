"""Where targets listen: the default host, free ports, and the URLs built from host and port."""

from __future__ import annotations

import socket

DEFAULT_HOST = "127.0.0.1"
# Ports this process has handed out. The kernel may pick a just-released port again; two
# servers started at once on one port would each pass the other's health check (a CI run
# verified one target through another's socket: a WebSocket handshake answered 403).
_GIVEN: set[tuple[str, int]] = set()
_TRIES = 50


def free_port(host: str = DEFAULT_HOST) -> int:
    """An unused TCP port on `host` (the kernel picks it), never one this process gave before.

    Raises OSError if the kernel offers only ports already given, `_TRIES` times over.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(_TRIES):
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port: int = sock.getsockname()[1]
        if (host, port) not in _GIVEN:
            _GIVEN.add((host, port))
            return port
    raise OSError(f"no port on {host} that this process has not given out already")


def host_port(host: str, port: int) -> str:
    """host:port, the host bracketed if it is IPv6."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def http_root(host: str, port: int) -> str:
    """`http://host:port` (IPv6 bracketed): a server's HTTP root, and a page's origin."""
    return f"http://{host_port(host, port)}"


def health_url(host: str, port: int) -> str:
    """The `/healthz` URL every target serves."""
    return f"{http_root(host, port)}/healthz"
