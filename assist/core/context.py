"""What the rule detectors see at one evaluation: audio time, conversation, transcripts."""

from __future__ import annotations

from dataclasses import dataclass, field

from assist.core.conversation import Conversation
from assist.core.events import Speaker, Transcript
from assist.core.prosody import SpeakerProsody


@dataclass(slots=True)
class Context:
    """Built by CallSession for each evaluation; detectors only read it.

    `new_transcripts` holds the transcript payloads that arrived since the last evaluation;
    `finals` every final transcript of the call so far, in arrival order. `features` is each
    speaker's prosody (pitch, level, pace, each vs their own baseline), as of this frame.
    """

    now: float
    conv: Conversation
    new_transcripts: list[Transcript] = field(default_factory=list)
    finals: list[Transcript] = field(default_factory=list)
    features: dict[Speaker, SpeakerProsody] = field(default_factory=dict)
