"""The compose files as data, with `${VAR:-default}` read as its default (what CI runs)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SCALE = ROOT / "docker-compose.scale.yml"
VARIABLE = re.compile(r"\$\{[A-Z_]+:-([^}]*)\}")


def with_defaults(value: Any) -> Any:
    """Every `${NAME:-default}` in strings replaced by its default, recursively."""
    if isinstance(value, str):
        return VARIABLE.sub(lambda match: match.group(1), value)
    if isinstance(value, list):
        return [with_defaults(item) for item in value]
    if isinstance(value, dict):
        return {key: with_defaults(item) for key, item in value.items()}
    return value


def services(path: Path) -> dict[str, dict[str, Any]]:
    """The file's services, anchors merged and variables at their defaults."""
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    result: dict[str, dict[str, Any]] = with_defaults(loaded["services"])
    return result


def option(command: list[str], name: str) -> str:
    """The value after `name` in a command list."""
    return command[command.index(name) + 1]


def target_urls(runner: dict[str, Any]) -> dict[str, str]:
    """The runner's TBENCH_TARGET_URLS as {target: URL}."""
    pairs = runner["environment"]["TBENCH_TARGET_URLS"].split()
    return dict(pair.split("=", 1) for pair in pairs)


def host_port(url: str) -> tuple[str, int]:
    """The host and port a URL names."""
    parts = urlsplit(url)
    assert parts.hostname is not None, url
    assert parts.port is not None, url
    return parts.hostname, parts.port
