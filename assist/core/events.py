"""Event schema v1: the one envelope used in JSONL, on the websocket and in the call store.

Every message is

    {"v": 1, "type": "...", "call_id": "...", "seq": N, "t": SECONDS_OF_CALL_AUDIO, "data": {...}}

`t` is audio time (sample count / rate) at which the core emitted the event, so `seq` order and
`t` order agree, and a `--fast` run gives the same times as a real-time one. Event-specific
times (the exact onset of speech, word times) live in `data`.

Each payload type is a frozen dataclass below; subclassing `EventData` with a `type` registers
it, and `json_schema()` derives the published JSON Schema from the dataclass fields. Adding a
field is compatible; renaming or removing one is a breaking change and needs SCHEMA_VERSION 2.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Union

SCHEMA_VERSION = 1

Speaker = Literal["agent", "customer"]
SPEAKERS: tuple[Speaker, Speaker] = ("agent", "customer")
Severity = Literal["info", "warn", "alert"]
Verdict = Literal["done", "not_helpful"]

EVENT_TYPES: dict[str, type[EventData]] = {}


_T = typing.TypeVar("_T", bound=type)


@typing.dataclass_transform(frozen_default=True)
def payload(cls: _T) -> _T:
    """Make `cls` a frozen, slotted dataclass and register it under its `type` (if any)."""
    made: Any = dataclass(frozen=True, slots=True)(cls)
    if made.__dict__.get("type"):
        if made.type in EVENT_TYPES:
            raise TypeError(f"duplicate event type {made.type!r}")
        EVENT_TYPES[made.type] = made
    return typing.cast(_T, made)


@payload
class EventData:
    """Base of every payload; subclasses set `type` and are registered by `@payload`."""

    type: ClassVar[str] = ""
    doc: ClassVar[str] = ""

    def to_data(self) -> dict[str, Any]:
        return _plain(self)  # type: ignore[no-any-return]

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> EventData:
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name in data:
                kwargs[f.name] = _revive(hints[f.name], data[f.name])
        return cls(**kwargs)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, float):
        return round(value, 3)
    return value


def _revive(tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp) and isinstance(value, dict):
        hints = typing.get_type_hints(tp)
        return tp(**{k: _revive(hints[k], v) for k, v in value.items() if k in hints})
    if origin is tuple and isinstance(value, list):
        args = typing.get_args(tp)
        return tuple(_revive(args[0], v) for v in value)
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(tp):
            if arg is not type(None) and value is not None:
                return _revive(arg, value)
    return value


# --- payloads -------------------------------------------------------------------------------


@payload
class CallStarted(EventData):
    type: ClassVar[str] = "call_started"
    doc: ClassVar[str] = "A call's analysis session began (audio time 0)."
    lang: str
    source: str  # "demo" | "sip" | "srs" (a SIPREC recording: a copy, no call control)
    sample_rate: int
    agent: str = ""
    remote: str = ""
    rules: str = ""  # rule pack name/version in force
    asr: str = ""  # speech engine ("vosk:<model>", "pocketsphinx:en-us (fallback)"); "" = none


@payload
class CallEnded(EventData):
    type: ClassVar[str] = "call_ended"
    doc: ClassVar[str] = "The call ended; `reason` says how (completed, hangup, dropped, ...)."
    duration_s: float  # the whole session: for a SIP call from ringing to the end
    reason: str = "completed"
    prompts: int = 0
    talk_s: float | None = None  # from the answer (first `confirmed`) to the end; None: no
    # telephony (a WAV) or never answered


@payload
class Speech(EventData):
    type: ClassVar[str] = "speech"
    doc: ClassVar[str] = "A speaker started or stopped speaking; `at` is the exact boundary."
    speaker: Speaker
    state: Literal["start", "stop"]
    at: float
    duration_s: float | None = None  # on stop: length of the speech run


@payload
class Word:
    w: str
    start: float
    end: float
    conf: float | None = None


@payload
class Transcript(EventData):
    type: ClassVar[str] = "transcript"
    doc: ClassVar[str] = (
        "Recognised speech; partials are replaced by later partials and the final. `engine` and "
        "`asr_pass` say what made it (1 = streaming first pass, 2 = Whisper second pass)."
    )
    speaker: Speaker
    kind: Literal["partial", "final"]
    text: str
    words: tuple[Word, ...] = ()
    start: float | None = None
    end: float | None = None
    engine: str = ""  # which recogniser made it ("whisper:tiny.en", "pocketsphinx:en-us")
    asr_pass: int = 1  # 1 = streaming first pass; 2 = Whisper decode of the whole utterance


@payload
class SpeakerMeters(EventData):
    speaking: bool
    talk_share: float  # share of all speech in the sliding window, 0..1
    level_dbfs: float  # level of the current/last speech, dBFS
    noise_dbfs: float  # line noise floor, dBFS
    pace_wpm: float | None = None
    pitch_hz: float | None = None
    run_s: float = 0.0  # length of the current speech run


@payload
class Meters(EventData):
    type: ClassVar[str] = "meters"
    doc: ClassVar[str] = "Periodic state of both speakers (about twice a second)."
    agent: SpeakerMeters
    customer: SpeakerMeters
    silence_s: float  # time neither side has spoken
    last_speaker: Speaker | None = None
    overlap_s: float = 0.0
    mood: str | None = None  # customer mood: calm | tense | agitated


@payload
class Prompt(EventData):
    type: ClassVar[str] = "prompt"
    doc: ClassVar[str] = "A whisper prompt for the agent, raised by rule `rule`."
    prompt_id: str
    rule: str
    text: str
    severity: Severity
    priority: int = 0
    evidence: dict[str, Any] = field(default_factory=dict)
    title: str = ""  # the rule's short readable name, in the pack's language
    min_show_s: float = 0.0  # the card stays on screen at least this long (pack setting)


@payload
class PromptCleared(EventData):
    type: ClassVar[str] = "prompt_cleared"
    doc: ClassVar[str] = (
        "A prompt is no longer relevant (its condition ended, or it was acknowledged)."
    )
    prompt_id: str
    rule: str
    reason: str = "condition_ended"


@payload
class Feedback(EventData):
    type: ClassVar[str] = "feedback"
    doc: ClassVar[str] = "The agent marked a prompt done or not helpful."
    prompt_id: str
    rule: str
    verdict: Verdict
    client: str = ""


@payload
class Dropped(EventData):
    type: ClassVar[str] = "dropped"
    doc: ClassVar[str] = (
        "A bounded queue overflowed; `count` items were dropped since the last report."
    )
    queue: str
    count: int
    total: int


@payload
class AsrLagging(EventData):
    type: ClassVar[str] = "asr_lagging"
    doc: ClassVar[str] = (
        "Speech recognition fell behind real time by `lag_s` on one channel; `asr_pass` 2: the "
        "shared Whisper pool is behind and first-pass finals stand in for its decodes."
    )
    speaker: Speaker
    lag_s: float
    recovered: bool = False
    asr_pass: int = 1


@payload
class SupervisorAction(EventData):
    type: ClassVar[str] = "supervisor_action"
    doc: ClassVar[str] = (
        "A supervisor asked to listen, whisper, barge into or leave (`off`) the call; `ok` says "
        "whether call control carried it out, `message` is its answer."
    )
    mode: Literal["listen", "whisper", "barge", "off"]
    supervisor: str
    ok: bool
    message: str = ""


@payload
class SupervisorMessage(EventData):
    type: ClassVar[str] = "supervisor_message"
    doc: ClassVar[str] = (
        "A supervisor sent the agent a short text message from the console; the agent's "
        "overlay shows it as a card."
    )
    supervisor: str  # the supervisor's name, from their token
    text: str


@payload
class CallState(EventData):
    type: ClassVar[str] = "call_state"
    doc: ClassVar[str] = (
        "The SIP call changed state (ringing, confirmed, held, ended); `reason` and `code` "
        "say why it ended (the SIP status, or `media timeout`)."
    )
    state: Literal["ringing", "confirmed", "held", "ended"]
    direction: Literal["inbound", "outbound"] = "inbound"
    remote: str = ""
    reason: str = ""
    code: int | None = None


@payload
class Hangup(EventData):
    type: ClassVar[str] = "hangup"
    doc: ClassVar[str] = (
        "Who ended a connected call: `agent` (our side hung up: the overlay's button or the "
        "agent's phone), `customer` (the remote party's BYE), or `unknown` (a SIPREC recording "
        "ends with the recording client's BYE, or our side gave up on a timeout); `how` says "
        "what happened in words. Comes before the call's `call_state` ended."
    )
    by: Literal["agent", "customer", "unknown"]
    how: str = ""


ChecklistState = Literal["pending", "yes", "no", "n/a"]


@payload
class ChecklistItem:
    name: str  # answered_promptly, greeting, restated, numbers_read_back, ... (docs/rules.md)
    state: ChecklistState  # n/a only once the call has ended
    t: float | None = None  # the moment that decided it (call audio seconds)
    detail: str = ""  # numbers_read_back: the number to read back ("4729183")


@payload
class Checklist(EventData):
    type: ClassVar[str] = "checklist"
    doc: ClassVar[str] = (
        "The call-shape checklist so far, every item, sent whenever one changes; `final` on "
        "the last one, at the call's end (pending items are then yes or n/a). `score` is "
        'yes / items decided ("5/7"; "-" when none is).'
    )
    items: tuple[ChecklistItem, ...]
    score: str = "-"
    final: bool = False


@payload
class Recording(EventData):
    type: ClassVar[str] = "recording"
    doc: ClassVar[str] = (
        "A SIPREC recording session's parties: the agent's and the customer's AoR, how the "
        "agent's stream was chosen (`by` metadata, or stream order with `note` saying why), "
        "every participant the metadata names; `update` when new metadata or a pause came "
        "mid-call. `agent` is the overlay agent the call is bound to (a transfer moves it); "
        "`paused` while the recording client paused the recording (RFC 7866 `a=inactive`): "
        "no audio then, and no timing cue counts the pause as silence."
    )
    agent_aor: str = ""
    customer_aor: str = ""
    by: Literal["metadata", "stream_order"] = "metadata"
    note: str = ""
    session_id: str = ""
    participants: tuple[str, ...] = ()
    update: bool = False
    agent: str = ""
    paused: bool = False


@payload
class Error(EventData):
    type: ClassVar[str] = "error"
    doc: ClassVar[str] = "A component failed; `recoverable` says whether the call goes on."
    source: str
    message: str
    recoverable: bool = True


@payload
class FleetDegraded(EventData):
    type: ClassVar[str] = "fleet_degraded"
    doc: ClassVar[str] = (
        "The floor bus (Redis) went down (`state` down: coaching goes on, events wait in a "
        "bounded backlog) or came back (`state` up: the backlog was sent); `dropped` counts "
        "events the full backlog could not keep."
    )
    state: Literal["down", "up"]
    backlog: int = 0
    dropped: int = 0
    message: str = ""


# --- envelope -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """The envelope: which call, its sequence number, audio time, and the typed payload."""

    call_id: str
    seq: int
    t: float
    data: EventData

    @property
    def type(self) -> str:
        return self.data.type

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": SCHEMA_VERSION,
            "type": self.data.type,
            "call_id": self.call_id,
            "seq": self.seq,
            "t": round(self.t, 3),
            "data": self.data.to_data(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, message: dict[str, Any]) -> Event:
        if message.get("v") != SCHEMA_VERSION:
            raise ValueError(f"unsupported schema version {message.get('v')!r}")
        kind = EVENT_TYPES.get(message.get("type", ""))
        if kind is None:
            raise ValueError(f"unknown event type {message.get('type')!r}")
        return cls(
            call_id=str(message["call_id"]),
            seq=int(message["seq"]),
            t=float(message["t"]),
            data=kind.from_data(message.get("data", {})),
        )


# --- JSON Schema ----------------------------------------------------------------------------


def _schema_of(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is Any:
        return {}
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (Union, types.UnionType):
        options = [_schema_of(a, defs) for a in args if a is not type(None)]
        if type(None) in args:
            options.append({"type": "null"})
        return options[0] if len(options) == 1 else {"anyOf": options}
    if origin in (tuple, list):
        return {"type": "array", "items": _schema_of(args[0], defs)}
    if origin is dict:
        return {"type": "object"}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        name = tp.__name__
        if name not in defs:
            defs[name] = {}
            defs[name] = _object_schema(tp, defs)
        return {"$ref": f"#/$defs/{name}"}
    raise TypeError(f"no JSON Schema mapping for {tp!r}")


def _object_schema(cls: type, defs: dict[str, Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    props = {f.name: _schema_of(hints[f.name], defs) for f in dataclasses.fields(cls)}
    required = [
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    return {"type": "object", "properties": props, "required": required}


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of every v1 message, derived from the dataclasses."""
    defs: dict[str, Any] = {}
    variants = []
    for name, cls in sorted(EVENT_TYPES.items()):
        variants.append(
            {
                "title": name,
                "description": cls.doc,
                "type": "object",
                "properties": {
                    "v": {"const": SCHEMA_VERSION},
                    "type": {"const": name},
                    "call_id": {"type": "string"},
                    "seq": {"type": "integer", "minimum": 0},
                    "t": {"type": "number", "minimum": 0},
                    "data": _object_schema(cls, defs),
                },
                "required": ["v", "type", "call_id", "seq", "t", "data"],
            }
        )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "softphone-assist/events.v1.json",
        "title": "softphone-assist event, schema v1",
        "oneOf": variants,
        "$defs": defs,
    }
