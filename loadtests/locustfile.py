"""Locust entry point: one user class per registered target, all driven by the same scenario.

    locust -f loadtests/locustfile.py --class-picker --host http://127.0.0.1:8000
    locust -f loadtests/locustfile.py WebsocketUser --host ws://127.0.0.1:8001/ws --scenario chat

`--host` is the URL `tbench serve` prints (WebSocket targets include their path). Users
spawn as `rooms × users_per_room` of the scenario (set the user count to that in the web UI).
"""

from __future__ import annotations

from locust import events

from contract.registry import TARGETS, Family, TargetSpec
from loadtests import plugin
from loadtests.users import user_class_name
from loadtests.users.base import ChatUser
from loadtests.users.polling import LongPollingUser, ShortPollingUser
from loadtests.users.sse import SseUser
from loadtests.users.websocket import WebSocketUser

FAMILY_USERS: dict[Family, type[ChatUser]] = {
    "short-polling": ShortPollingUser,
    "long-polling": LongPollingUser,
    "sse": SseUser,
    "websocket": WebSocketUser,
}


def _user_class(spec: TargetSpec) -> type[ChatUser]:
    base = FAMILY_USERS[spec.family]
    doc = f"{spec.name}: {spec.description}"
    return type(user_class_name(spec), (base,), {"abstract": False, "target": spec, "__doc__": doc})


plugin.install(events)

for _spec in TARGETS.values():
    globals()[user_class_name(_spec)] = _user_class(_spec)
