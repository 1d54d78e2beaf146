"""Client message decoding: every malformed, unknown or oversize frame is a ProtocolError."""

from __future__ import annotations

import json

import pytest

from overlay import protocol
from overlay.protocol import (
    CallAction,
    Dial,
    Message,
    ProtocolError,
    SendFeedback,
    Subscribe,
    Supervise,
    decode,
)


def test_subscribe_with_and_without_call_and_since() -> None:
    assert decode('{"type":"subscribe"}') == Subscribe()
    msg = decode('{"type":"subscribe","call_id":"c1","since":{"c1":41},"id":3}')
    assert msg == Subscribe("c1", (("c1", 41),), 3)
    assert decode('{"type":"subscribe","latest":true}') == Subscribe(latest=True)


def test_feedback_and_supervise_are_typed() -> None:
    fb = decode('{"type":"feedback","call_id":"c","prompt_id":"r-1","verdict":"not_helpful"}')
    assert fb == SendFeedback("c", "r-1", "not_helpful")
    sv = decode('{"type":"supervise","call_id":"c","mode":"whisper","id":"w"}')
    assert sv == Supervise("c", "whisper", "w")


def test_softphone_controls_are_typed() -> None:
    assert decode('{"type":"answer","call_id":"c","id":1}') == CallAction("c", "answer", 1)
    assert decode('{"type":"hangup","call_id":"c"}') == CallAction("c", "hangup")
    assert decode('{"type":"dial","uri":"sip:bob@127.0.0.1:5070"}') == Dial(
        "sip:bob@127.0.0.1:5070"
    )


def test_a_supervisors_message_is_typed_and_its_white_space_collapsed() -> None:
    msg = decode('{"type":"message","call_id":"c","text":"  offer the\\n refund ","id":"m"}')
    assert msg == Message("c", "offer the refund", "m")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{}", "bad_message"),
        ('{"type":"answer"}', "bad_message"),
        ('{"type":"hangup","call_id":7}', "bad_message"),
        ('{"type":"dial"}', "bad_message"),
        pytest.param(
            json.dumps({"type": "dial", "uri": "sip:" + "b" * 300}), "bad_message", id="long-uri"
        ),
        ("", "bad_message"),
        ("{", "bad_message"),
        pytest.param("[" * 100_000, "too_large", id="huge"),
        pytest.param("[" * 5000 + "]" * 5000, "bad_message", id="deep"),  # no RecursionError
        ("null", "bad_message"),
        ('{"type":1}', "bad_message"),
        ('{"type":"subscribe","since":[1]}', "bad_message"),
        ('{"type":"subscribe","since":{"c":true}}', "bad_message"),
        ('{"type":"subscribe","since":{"c":-5}}', "bad_message"),
        ('{"type":"subscribe","call_id":""}', "bad_message"),
        ('{"type":"subscribe","latest":1}', "bad_message"),
        ('{"type":"subscribe","id":[1]}', "bad_message"),
        ('{"type":"feedback","call_id":"c","prompt_id":"p"}', "bad_message"),
        ('{"type":"feedback","call_id":"c","prompt_id":5,"verdict":"done"}', "bad_message"),
        ('{"type":"supervise","call_id":"c","mode":"eavesdrop"}', "bad_message"),
        ('{"type":"supervise","mode":"listen"}', "bad_message"),
        ('{"type":"message","call_id":"c","text":"   "}', "bad_message"),
        ('{"type":"message","call_id":"c"}', "bad_message"),
        pytest.param(
            json.dumps({"type": "message", "call_id": "c", "text": "x" * 281}),
            "bad_message",
            id="long-message",
        ),
        ('{"type":"hello"}', "unknown_type"),
        pytest.param(
            json.dumps({"type": "subscribe", "call_id": "x" * 200}), "bad_message", id="id"
        ),
        pytest.param(json.dumps({"type": "x", "p": "€" * 6000}), "too_large", id="utf8"),  # 18 kB
    ],
)
def test_bad_input_raises_protocol_error_with_a_code(raw: str | bytes, code: str) -> None:
    with pytest.raises(ProtocolError) as err:
        decode(raw)
    assert err.value.code == code and err.value.message


def test_errors_echo_the_request_id() -> None:
    with pytest.raises(ProtocolError) as err:
        decode('{"type":"supervise","call_id":"c","mode":"?","id":"req-9"}')
    assert err.value.ref == "req-9"
    out = json.loads(protocol.error(err.value.code, err.value.message, err.value.ref))
    assert out == {
        "type": "error",
        "code": "bad_message",
        "error": err.value.message,
        "id": "req-9",
    }


def test_server_messages_carry_no_seq() -> None:
    hello = json.loads(protocol.hello(server="s", role="agent", name="a", calls=["c"]))
    assert hello["protocol"] == protocol.PROTOCOL_VERSION and hello["v"] == 1
    for raw in (protocol.result("ok", 1), protocol.calls([]), protocol.error("forbidden", "no")):
        assert "seq" not in json.loads(raw)


def test_the_rate_limit_allows_a_burst_then_refills_at_its_rate() -> None:
    """Pinned here on the bucket's own clock, so the server test that floods a real socket can
    wait for the refill instead of sleeping for it."""
    limit = protocol.RateLimit(8.0, burst=40)  # 1/8 s per message: exact in binary
    assert all(limit.allow(100.0) for _ in range(40))
    assert not limit.allow(100.0)  # the burst is spent
    assert not limit.allow(100.0625)  # half a message's worth of refill
    assert limit.allow(100.125) and not limit.allow(100.125)  # one message per 1/8 s
    assert [limit.allow(100.5) for _ in range(4)] == [True, True, True, False]
    assert sum(limit.allow(1000.0) for _ in range(100)) == 40  # never more than the burst
