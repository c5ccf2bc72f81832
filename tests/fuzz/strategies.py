"""Hypothesis strategies for the fuzz tests: publishes, frames, rooms and query values, each
with the answer docs/protocol.md specifies for it.

Two oracles, kept apart on purpose. Targeted mutations are labelled by construction, from the
protocol's tables (a wrong-typed `seq` is `invalid_field`, bytes that are not UTF-8 are
`not_utf8`, whatever any server code says); arbitrary inputs (random bytes, random objects)
are classified with contract.messages. test_strategies.py checks the labels against
contract.messages, so neither can drift without a failing test; the fuzz tests then hold every
server, including the Lambda handlers' own copy of the rules, to the labels.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from conformance.checks.bad_input_http import exact_size_payload
from contract.messages import (
    MAX_MESSAGE_BYTES,
    MAX_SENDER_CHARS,
    ROOM_PATTERN,
    SEND_ACTION,
    InvalidInput,
    Problem,
    decode_object,
    parse_action_frame,
    parse_publish,
)

# Bounded and reproducible in CI: the same examples every run (derandomize), no database.
# TBENCH_FUZZ_EXAMPLES=N explores further: N examples per payload test, new ones every run.
EXPLORE_EXAMPLES = int(os.environ.get("TBENCH_FUZZ_EXAMPLES") or 0)
FUZZ_SETTINGS = settings(
    max_examples=EXPLORE_EXAMPLES or 150,
    deadline=None,
    derandomize=not EXPLORE_EXAMPLES,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# For the inputs beside the payloads (room names, cursors, waits, cut-off requests): fewer.
SIDE_SETTINGS = settings(FUZZ_SETTINGS, max_examples=max(50, FUZZ_SETTINGS.max_examples // 3))

MAX_SEQ = 2**64 - 1  # the largest integer contract.codec reads as an integer
PUBLISH_FIELDS = ("sender", "seq", "body", "sent_at")
JSON_WHITESPACE = b" \t\n\r"  # RFC 8259's insignificant whitespace
# Byte sequences that are never UTF-8: lone continuation, overlong "/", a UTF-8-encoded
# surrogate, past U+10FFFF, a truncated two-byte sequence, bytes that never occur.
INVALID_UTF8 = (b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc3(", b"\xff")
# JSON that RFC 8259 (and so contract.codec) refuses, though some parsers take it.
MALFORMED_JSON = (
    b"{'sender': 'u'}",
    b"{sender: 1}",
    b'{"seq": 1,}',
    b"[1, 2,]",
    b'{"seq": 01}',
    b'{"seq": NaN}',
    b'{"sent_at": Infinity}',
    b'{"sent_at": 1e400}',  # past the double range: not a number contract.codec can hold
    b'{"body": "\\ud800"}',  # a lone surrogate escape
    b'{"body": "\\udc00\\ud800"}',  # a reversed pair: two lone surrogates
    b'{"body": "tab\tinside"}',  # a raw control character in a string
    b'\xef\xbb\xbf{"seq": 1}',  # a byte order mark
    b'{"seq": 1} {"seq": 2}',
    b'{"seq": 1}]',
    b"/* comment */ {}",
)


@dataclass(frozen=True)
class Payload:
    """A POST body or frame payload, and the problem it must be refused with (None: valid)."""

    label: str  # which strategy made it, for failure messages
    data: bytes
    problem: Problem | None
    binary: bool = False  # send as a binary WebSocket frame

    def describe(self) -> str:
        """`label: first bytes`, short enough for an assertion message."""
        return f"{self.label}: {self.data[:80]!r}{'...' if len(self.data) > 80 else ''}"


# --- values ---------------------------------------------------------------------------------

SENDERS = st.text(min_size=1, max_size=MAX_SENDER_CHARS)
SEQS = st.integers(1, MAX_SEQ)
BODIES = st.text(max_size=100)
SENT_ATS = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53)
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), MAX_SEQ)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)
ROOMS = st.from_regex(r"\A[A-Za-z0-9_-]{1,64}\Z")


def _invalid_room(room: str) -> bool:
    return ROOM_PATTERN.fullmatch(room) is None


INVALID_ROOMS = st.one_of(
    st.sampled_from(["a" * 65, "bad.room", "sp ace", "ä", "semi;colon", "q?x", "hash#", "%41"]),
    st.text(max_size=70).filter(_invalid_room),
)


def path_safe(room: str) -> bool:
    """Whether a room name stays one path segment: no '/', and not a dot segment or empty."""
    return "/" not in room and room not in ("", ".", "..")


# What the protocol accepts, stated on its own (docs/protocol.md), for the labels.
FIELD_IS_VALID: dict[str, Any] = {
    "sender": lambda v: isinstance(v, str) and 1 <= len(v) <= MAX_SENDER_CHARS,
    "seq": lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_SEQ,
    "body": lambda v: isinstance(v, str),
    "sent_at": lambda v: (
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    ),
}


@st.composite
def publish_fields(draw: st.DrawFn) -> dict[str, Any]:
    """A valid publish payload's fields (no room), sometimes with extra fields (ignored)."""
    fields = {
        "sender": draw(SENDERS),
        "seq": draw(SEQS),
        "body": draw(BODIES),
        "sent_at": draw(SENT_ATS),
    }
    extras = draw(st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=2))
    return {
        **{k: v for k, v in extras.items() if k not in (*PUBLISH_FIELDS, "room", "action")},
        **fields,
    }


# --- payloads: one defect each, labelled ----------------------------------------------------


def encode_json(value: Any) -> bytes:
    """Compact JSON by the standard library: any integer size (contract.codec stops at 64 bits)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _encoded(label: str, fields: Any, problem: Problem | None) -> Payload:
    return Payload(label, encode_json(fields), problem)


@st.composite
def wrong_typed(draw: st.DrawFn, base: dict[str, Any]) -> Payload:
    """One publish field given a value the protocol refuses: invalid_field."""
    name = draw(st.sampled_from(PUBLISH_FIELDS))
    value = draw(JSON_VALUES.filter(lambda v: not FIELD_IS_VALID[name](v)))
    return _encoded(f"wrong {name}", {**base, name: value}, Problem.INVALID_FIELD)


@st.composite
def missing_field(draw: st.DrawFn, base: dict[str, Any]) -> Payload:
    """One required publish field left out: invalid_field."""
    name = draw(st.sampled_from(PUBLISH_FIELDS))
    return _encoded(
        f"no {name}", {k: v for k, v in base.items() if k != name}, Problem.INVALID_FIELD
    )


@st.composite
def not_an_object(draw: st.DrawFn) -> Payload:
    """Valid JSON that is not an object: invalid_field."""
    value = draw(JSON_VALUES.filter(lambda v: not isinstance(v, dict)))
    return _encoded("not an object", value, Problem.INVALID_FIELD)


@st.composite
def truncated(draw: st.DrawFn, encoded: bytes) -> Payload:
    """A JSON object cut short (a prefix without its closing brace): not_json.

    Cut between characters: inside a multi-byte one the prefix would not be UTF-8.
    """
    cut = draw(st.integers(1, len(encoded) - 1).filter(lambda at: encoded[at] & 0xC0 != 0x80))
    return Payload("truncated", encoded[:cut], Problem.NOT_JSON)


@st.composite
def not_utf8(draw: st.DrawFn, encoded: bytes) -> Payload:
    """A valid payload with bytes that are never UTF-8 spliced in anywhere: not_utf8."""
    bad = draw(st.sampled_from(INVALID_UTF8))
    at = draw(st.integers(0, len(encoded)))
    return Payload("not UTF-8", encoded[:at] + bad + encoded[at:], Problem.NOT_UTF8)


def malformed() -> st.SearchStrategy[Payload]:
    """JSON that RFC 8259 refuses: not_json."""
    return st.sampled_from(MALFORMED_JSON).map(
        lambda data: Payload("malformed", data, Problem.NOT_JSON)
    )


def empty() -> st.SearchStrategy[Payload]:
    """Nothing, or JSON whitespace only: empty."""
    whitespace = st.binary(max_size=4).map(lambda b: bytes(JSON_WHITESPACE[i % 4] for i in b))
    return whitespace.map(lambda data: Payload("empty", data, Problem.EMPTY))


@st.composite
def sized(draw: st.DrawFn, base: dict[str, Any]) -> Payload:
    """A payload padded to a size around the 128 KiB limit, or far past it."""
    size = draw(
        st.sampled_from([MAX_MESSAGE_BYTES - 1, MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES + 1])
        | st.integers(MAX_MESSAGE_BYTES + 2, 4 * MAX_MESSAGE_BYTES)
    )
    data = exact_size_payload({k: v for k, v in base.items() if k != "body"}, size)
    return Payload(f"{size} bytes", data, Problem.TOO_LARGE if size > MAX_MESSAGE_BYTES else None)


@st.composite
def huge_integer_seq(draw: st.DrawFn, base: dict[str, Any]) -> Payload:
    """A `seq` past 2**64 - 1: contract.codec reads it as a float, a wrong type: invalid_field."""
    seq = draw(st.integers(MAX_SEQ + 1, 10**40))
    return _encoded("seq past 64 bits", {**base, "seq": seq}, Problem.INVALID_FIELD)


def random_bytes() -> st.SearchStrategy[Payload]:
    """Anything at all, classified by contract.messages."""
    return st.binary(max_size=40).map(lambda data: classify_publish("random bytes", data))


def random_object() -> st.SearchStrategy[Payload]:
    """An object of arbitrary fields, classified by contract.messages."""
    objects = st.dictionaries(st.sampled_from([*PUBLISH_FIELDS, "x"]), JSON_VALUES)
    return objects.map(lambda obj: classify_publish("random object", encode_json(obj)))


def classify_publish(label: str, data: bytes, room: str = "r") -> Payload:
    """contract.messages' verdict on an HTTP publish body (posted to `room`)."""
    try:
        parse_publish(decode_object(data), room=room)
    except InvalidInput as exc:
        return Payload(label, data, exc.problem)
    return Payload(label, data, None)


@st.composite
def publish_bodies(draw: st.DrawFn, room: str) -> Payload:
    """A POST body for `/rooms/{room}/messages`: valid, or with one defect."""
    base = draw(publish_fields())
    with_room = draw(st.booleans())
    if with_room:
        base = {**base, "room": room}
    encoded = encode_json(base)
    valid = "valid" + (" with room" if with_room else "")
    # Pick the kind first and build only its strategy: building all of them per example
    # costs more than the example itself.
    kinds: list[Callable[[], st.SearchStrategy[Payload]]] = [
        lambda: st.just(Payload(valid, encoded, None)),
        lambda: wrong_typed(base),
        lambda: missing_field(base),
        lambda: other_room_in_body(base, room),
        not_an_object,
        lambda: truncated(encoded),
        lambda: not_utf8(encoded),
        malformed,
        empty,
        lambda: sized(base),
        lambda: huge_integer_seq(base),
        random_bytes,
        random_object,
    ]
    return draw(draw(st.sampled_from(kinds))())


@st.composite
def other_room_in_body(draw: st.DrawFn, base: dict[str, Any], room: str) -> Payload:
    """A body `room` that is not the URL's (valid name or not, any type): invalid_field."""
    other = draw(
        st.one_of(ROOMS, INVALID_ROOMS, JSON_VALUES).filter(lambda v: v not in (room, None))
    )
    return _encoded("other room in body", {**base, "room": other}, Problem.INVALID_FIELD)


# --- WebSocket frames -----------------------------------------------------------------------


@st.composite
def frames(draw: st.DrawFn, room: str) -> Payload:
    """A frame on a connection to `room`: valid, or with one defect (the close-code table)."""
    base = {"action": SEND_ACTION, "room": room, **draw(publish_fields())}
    encoded = encode_json(base)
    without_action = {k: v for k, v in base.items() if k != "action"}
    without_room = {k: v for k, v in base.items() if k != "room"}
    kinds: list[Callable[[], st.SearchStrategy[Payload]]] = [
        lambda: st.just(Payload("valid", encoded, None)),
        lambda: wrong_typed(base),
        lambda: missing_field(base),
        lambda: st.just(_encoded("no room", without_room, Problem.INVALID_FIELD)),
        lambda: frame_room(base, room),
        lambda: unknown_action(base),
        lambda: st.just(_encoded("no action", without_action, Problem.UNKNOWN_ACTION)),
        lambda: st.just(Payload("binary", encoded, Problem.BINARY, binary=True)),
        lambda: st.binary(max_size=20).map(
            lambda b: Payload("binary", b, Problem.BINARY, binary=True)
        ),
        not_an_object,
        lambda: truncated(encoded),
        lambda: not_utf8(encoded),
        malformed,
        empty,
        lambda: sized_frame(base),
        lambda: huge_integer_seq(base),
        lambda: random_bytes().map(lambda p: classify_frame(p.label, p.data, room)),
    ]
    return draw(draw(st.sampled_from(kinds))())


@st.composite
def frame_room(draw: st.DrawFn, base: dict[str, Any], room: str) -> Payload:
    """A frame `room` that is not the connection's (another valid room, or no room name)."""
    other = draw(st.one_of(ROOMS, INVALID_ROOMS, JSON_VALUES).filter(lambda v: v != room))
    return _encoded(
        "frame room not the connection's", {**base, "room": other}, Problem.INVALID_ROOM
    )


@st.composite
def unknown_action(draw: st.DrawFn, base: dict[str, Any]) -> Payload:
    """An `action` that is not "sendMessage" (route keys like "$connect" included)."""
    action = draw(
        st.sampled_from(["$connect", "$disconnect", "$default", "sendmessage", "sendMessage "])
        | JSON_VALUES.filter(lambda v: v != SEND_ACTION)
    )
    return _encoded("unknown action", {**base, "action": action}, Problem.UNKNOWN_ACTION)


@st.composite
def sized_frame(draw: st.DrawFn, base: dict[str, Any]) -> Payload:
    """A frame past 128 KiB (valid sizes near the limit are the conformance check's)."""
    size = draw(
        st.sampled_from([MAX_MESSAGE_BYTES + 1])
        | st.integers(MAX_MESSAGE_BYTES + 2, 2 * MAX_MESSAGE_BYTES)
    )
    return Payload(
        f"{size} bytes",
        exact_size_payload({k: v for k, v in base.items() if k != "body"}, size),
        Problem.TOO_LARGE,
    )


def classify_frame(label: str, data: bytes, room: str) -> Payload:
    """contract.messages' verdict on a text frame on a connection to `room`."""
    try:
        publish = parse_action_frame(data)
    except InvalidInput as exc:
        return Payload(label, data, exc.problem)
    return Payload(label, data, None if publish.room == room else Problem.INVALID_ROOM)


# --- query values ---------------------------------------------------------------------------

CURSOR = re.compile(r"[0-9]{1,19}")  # an integer >= 0 that fits a 64-bit id
DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def cursor_is_valid(raw: str) -> bool:
    """`since` / Last-Event-ID: an integer >= 0 (docs/protocol.md)."""
    return CURSOR.fullmatch(raw) is not None


def wait_is_valid(raw: str) -> bool:
    """`wait`: a decimal number of seconds, finite and > 0 (docs/protocol.md)."""
    return DECIMAL.fullmatch(raw) is not None and 0 < float(raw) < math.inf


CURSORS = st.one_of(
    st.from_regex(r"\A[0-9]{1,19}\Z"),
    st.sampled_from(["", "-1", "1.0", "+1", " 1", "1 ", "0x1", "1e3", "٣", "１", "1" * 20]),
    st.text(max_size=8),
)
WAITS = st.one_of(
    st.floats(min_value=1e-9, max_value=1e9).map(repr),
    st.sampled_from(["0", "-1", "0.0", "nan", "inf", "-inf", "Infinity", "1e400", "1_0", " 1"]),
    st.sampled_from(["٣", "１", "0x10", "1e-400", ".5", "5.", "+2", "", "1,5"]),
    st.text(max_size=6),
)
HEADER_CURSORS = st.one_of(
    st.from_regex(r"\A[0-9]{1,19}\Z"),
    # Printable ASCII, no surrounding blanks: what an HTTP client can put in a header value.
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=8).filter(
        lambda value: value == value.strip(" ")
    ),
)
