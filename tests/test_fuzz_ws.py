"""Property tests of the overlay's websocket handling, through a real socket on port 0.

Random and malformed client messages (any text, binary, JSON of every shape, the real message
types with fields of random types) always get a protocol `error` back, or for a valid request
a `result` or nothing; the connection stays open and the server keeps serving new clients.
Each fuzz message is followed by a probe with a known `id`, so its replies can be told apart.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection, connect

from assist.runtime.control import CallRegistry, DemoControl
from overlay.auth import OverlayConfig
from overlay.server import OverlayServer

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
REPLY_TIMEOUT_S = 5.0
TYPES = ["subscribe", "feedback", "supervise"]


@pytest.fixture(scope="module")
def server() -> Iterator[OverlayServer]:
    # the fuzzer sends hundreds of messages a second on one connection: no rate limit here
    config = OverlayConfig(port=0, messages_per_s=1e6)
    srv = OverlayServer(config=config, registry=CallRegistry(), control=DemoControl()).start()
    yield srv
    srv.stop()


def ws_url(srv: OverlayServer) -> str:
    return f"ws://127.0.0.1:{srv.port}/ws?token={srv.config.supervisors[0].token}"


@pytest.fixture(scope="module")
def ws(server: OverlayServer) -> Iterator[ClientConnection]:
    with connect(ws_url(server), open_timeout=5) as conn:
        hello = json.loads(conn.recv(REPLY_TIMEOUT_S))
        assert hello["type"] == "hello"
        yield conn


_probes = iter(range(10**9))


def replies_to(ws: ClientConnection, message: str | bytes) -> list[dict[str, Any]]:
    """Send `message`, then a probe; return the protocol replies that came before the probe's."""
    probe = f"probe-{next(_probes)}"
    ws.send(message)
    ws.send(json.dumps({"type": "no_such_type", "id": probe}))
    got = []
    while True:
        msg = json.loads(ws.recv(REPLY_TIMEOUT_S))
        if msg.get("type") not in ("error", "result") or "seq" in msg:
            continue  # events and board updates after a valid subscribe
        if msg.get("id") == probe:
            assert msg["type"] == "error" and msg["code"] == "unknown_type"
            return got
        got.append(msg)


def is_error(msg: dict[str, Any]) -> bool:
    return msg["type"] == "error" and isinstance(msg.get("code"), str) and bool(msg.get("error"))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)


@SETTINGS
@given(st.text(max_size=200))
def test_any_text_that_is_not_a_request_object_gets_an_error(
    ws: ClientConnection, text: str
) -> None:
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("type"), str):
        return  # an object with a type: covered by the typed tests below
    replies = replies_to(ws, text)
    assert len(replies) == 1 and is_error(replies[0]), replies


@SETTINGS
@given(st.binary(max_size=200))
def test_binary_frames_get_an_error(ws: ClientConnection, raw: bytes) -> None:
    replies = replies_to(ws, raw)
    assert len(replies) == 1 and is_error(replies[0]), replies


@SETTINGS
@given(
    st.one_of(
        st.sampled_from(TYPES),
        st.text(max_size=12),
    ),
    st.dictionaries(
        st.sampled_from(["call_id", "prompt_id", "verdict", "mode", "since", "id", "extra"]),
        json_values,
        max_size=5,
    ),
)
def test_typed_messages_with_random_fields_get_one_reply_or_none_if_valid(
    ws: ClientConnection, kind: str, fields: dict[str, Any]
) -> None:
    replies = replies_to(ws, json.dumps({"type": kind, **fields}))
    assert len(replies) <= 1, replies
    if kind not in TYPES:
        assert len(replies) == 1 and is_error(replies[0]), replies
    if replies:
        assert is_error(replies[0]) or replies[0]["type"] == "result", replies
        if "id" in replies[0]:
            assert replies[0]["id"] == fields.get("id")


def test_oversize_and_deep_messages_get_an_error_and_the_server_keeps_serving(
    ws: ClientConnection, server: OverlayServer
) -> None:
    for message in (
        json.dumps({"type": "subscribe", "pad": "x" * 100_000}),
        "[" * 50_000 + "]" * 50_000,
        '{"type": "subscribe", "since": ' + "[" * 10_000 + "]" * 10_000 + "}",
    ):
        (reply,) = replies_to(ws, message)
        assert is_error(reply)
    with connect(ws_url(server), open_timeout=5) as fresh:  # a new client is served as usual
        assert json.loads(fresh.recv(REPLY_TIMEOUT_S))["type"] == "hello"
