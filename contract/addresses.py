"""Where targets listen: the default host, free ports, and the URLs built from host and port."""

from __future__ import annotations

import socket

DEFAULT_HOST = "127.0.0.1"


def free_port(host: str = DEFAULT_HOST) -> int:
    """An unused TCP port on `host` (the kernel picks it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def host_port(host: str, port: int) -> str:
    """host:port, the host bracketed if it is IPv6."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def http_root(host: str, port: int) -> str:
    """`http://host:port` (IPv6 bracketed): a server's HTTP root, and a page's origin."""
    return f"http://{host_port(host, port)}"


def health_url(host: str, port: int) -> str:
    """The `/healthz` URL every target serves."""
    return f"{http_root(host, port)}/healthz"
