"""Locust users, one module per transport family; each is a client firing events + a User."""

from __future__ import annotations

from contract.registry import TargetSpec


def user_class_name(spec: TargetSpec) -> str:
    """`short-polling` -> `ShortPollingUser`: the locustfile's class for a target."""
    return "".join(part.capitalize() for part in spec.name.replace("_", "-").split("-")) + "User"
