"""Event schema v1: envelope shape, JSON round trip, and the published JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from conftest import noise, run_session, timeline

from assist.core.events import (
    EVENT_TYPES,
    SCHEMA_VERSION,
    Event,
    Prompt,
    Transcript,
    Word,
    json_schema,
)

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "overlay" / "schema" / "events.v1.json"


def validator() -> jsonschema.protocols.Validator:
    schema = json_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def test_checked_in_schema_matches_the_dataclasses() -> None:
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8")) == json_schema(), (
        "regenerate with: assist schema > overlay/schema/events.v1.json"
    )


def test_every_event_of_a_call_validates() -> None:
    v = validator()
    events = run_session(timeline(16, [(0.5, 2.0)]), timeline(16, [(13.0, 14.0)], seed=3))
    kinds = {e.type for e in events}
    assert {"call_started", "speech", "meters", "prompt", "prompt_cleared", "call_ended"} <= kinds
    for ev in events:
        v.validate(ev.to_dict())


def test_envelope_has_exactly_the_documented_keys() -> None:
    ev = run_session(noise(1), noise(1))[0].to_dict()
    assert set(ev) == {"v", "type", "call_id", "seq", "t", "data"}
    assert ev["v"] == SCHEMA_VERSION == 1


def test_round_trip_through_json() -> None:
    words = (Word("four", 1.0, 1.2, 0.9), Word("seven", 1.2, 1.5))
    for data in (
        Transcript(speaker="customer", kind="final", text="four seven", words=words, start=1.0),
        Prompt(prompt_id="p-1", rule="r", text="x", severity="alert", evidence={"n": [1, 2]}),
    ):
        ev = Event("c", 3, 1.5, data)
        back = Event.from_dict(json.loads(ev.to_json()))
        assert back == ev
        validator().validate(ev.to_dict())


def test_invalid_messages_fail_validation_and_decoding() -> None:
    v = validator()
    bad = Event("c", 0, 1.0, Prompt(prompt_id="p", rule="r", text="t", severity="warn")).to_dict()
    bad["data"]["severity"] = "loud"
    with pytest.raises(jsonschema.ValidationError):
        v.validate(bad)
    with pytest.raises(ValueError, match="unknown event type"):
        Event.from_dict({"v": 1, "type": "nope", "call_id": "c", "seq": 0, "t": 0, "data": {}})
    with pytest.raises(ValueError, match="version"):
        Event.from_dict({"v": 2, "type": "prompt", "call_id": "c", "seq": 0, "t": 0, "data": {}})


def test_required_types_are_registered() -> None:
    assert {
        "call_started",
        "call_ended",
        "speech",
        "transcript",
        "meters",
        "prompt",
        "prompt_cleared",
    } <= set(EVENT_TYPES)
