"""schemathesis against each HTTP target's own `/openapi.json`, each target started once.

Positive cases (schema-valid) must be accepted, negative ones refused with a documented 4xx,
and every answer must match its documented status, content type, headers and body schema.
The event stream's GET is left out: a schema-valid request opens a stream that never ends
(test_fuzz_http.py fuzzes its room, `since` and Last-Event-ID instead).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import given, settings
from schemathesis import GenerationMode
from schemathesis.generation.case import Case

from contract.registry import TargetSpec
from servers.openapi import MAX_CURSOR, MAX_SEQ, ROOM_REGEX
from servers.sse import EVENTS_PATH
from tests.fuzz.conftest import HTTP_TARGETS, Harness, serves_after_fuzzing, start_harness
from tests.fuzz.strategies import FUZZ_SETTINGS

pytestmark = pytest.mark.slow  # starts servers or runs: not in `make test-fast`

# Per operation and generation mode: ~100 requests per target in CI.
EXAMPLES_PER_OPERATION = max(20, FUZZ_SETTINGS.max_examples // 7)
REQUEST_TIMEOUT_S = 10.0


@pytest.fixture(scope="module", params=HTTP_TARGETS, ids=lambda spec: spec.name)
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    """The target's server, started once for all of this module's tests."""
    spec: TargetSpec = request.param
    yield from start_harness(spec)


def test_the_schema_documents_every_parameter_body_and_answer(harness: Harness):
    document = harness.http.get(f"{harness.root}/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    publish = document["paths"]["/rooms/{room}/messages"]["post"]
    body = publish["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["sender", "seq", "body", "sent_at"]
    assert body["properties"]["seq"] == {"type": "integer", "minimum": 1, "maximum": MAX_SEQ}
    assert set(publish["responses"]) == {"201", "400", "404", "413", "422"}
    subscribe_path = EVENTS_PATH if harness.spec.family == "sse" else "/rooms/{room}/messages"
    subscribe = document["paths"][subscribe_path]["get"]
    parameters = {p["name"]: p for p in subscribe["parameters"]}
    assert parameters["room"]["schema"]["pattern"] == ROOM_REGEX
    assert parameters["since"]["schema"]["maximum"] == MAX_CURSOR
    assert ("wait" in parameters) == (harness.spec.family == "long-polling")
    assert ("Last-Event-ID" in parameters) == (harness.spec.family == "sse")
    assert set(subscribe["responses"]) == {"200", "400", "404", "503"}
    assert "Retry-After" in subscribe["responses"]["503"]["headers"]
    error = document["components"]["schemas"]["ErrorBody"]
    assert set(error["required"]) == {"error", "kind", "field"}


def _as_the_protocol_means_it(case: Case) -> None:
    """Adjust a positive case where JSON Schema cannot say what the protocol says.

    A body `room` must equal the path's (no schema can relate the two), and `seq` must be an
    integer literal (JSON Schema counts 3.0 as an integer; the protocol does not).
    """
    body = case.body
    if isinstance(body, dict):
        if "room" in body:
            body["room"] = case.path_parameters["room"]
        if isinstance(body.get("seq"), float):
            body["seq"] = int(body["seq"])


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_answers_as_its_schema_says(harness: Harness, mode: GenerationMode):
    schema = schemathesis.openapi.from_url(f"{harness.root}/openapi.json")
    schema = schema.exclude(path=EVENTS_PATH, method="GET")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 2  # healthz and publish, and the poll where there is one
    for operation in operations:
        takes_input = operation.path_parameters or operation.query or operation.body
        if mode is GenerationMode.NEGATIVE and not takes_input:
            continue  # nothing to get wrong (GET /healthz)

        @settings(FUZZ_SETTINGS, max_examples=EXAMPLES_PER_OPERATION)
        @given(case=operation.as_strategy(mode))
        def check(case: Case) -> None:
            if mode is GenerationMode.POSITIVE:
                _as_the_protocol_means_it(case)
            case.call_and_validate(base_url=harness.root, timeout=REQUEST_TIMEOUT_S)

        check()


def test_afterwards_the_server_is_healthy_serves_new_clients_and_holds_nothing(
    harness: Harness,
):
    serves_after_fuzzing(harness)
