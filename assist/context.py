"""What the rule detectors see at one evaluation: audio time, conversation, transcripts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assist.conversation import Conversation
from assist.events import Speaker, Transcript


@dataclass(slots=True)
class Context:
    """Built by CallSession for each evaluation; detectors only read it.

    `new_transcripts` holds the transcript payloads that arrived since the last evaluation;
    `finals` every final transcript of the call so far, in arrival order. `features` carries
    per-speaker prosody (pitch, energy, pace) once the prosody loop provides it.
    """

    now: float
    conv: Conversation
    new_transcripts: list[Transcript] = field(default_factory=list)
    finals: list[Transcript] = field(default_factory=list)
    features: dict[Speaker, Any] = field(default_factory=dict)
