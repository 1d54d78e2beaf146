"""Turn-taking detectors over the two-channel conversation state."""

from __future__ import annotations

from typing import Any

from assist.context import Context
from assist.rules import Condition, Detector


class SilenceAfter(Detector):
    """Neither side speaking for `min_s`, and `last_speaker` spoke last.

    customer_silence: the agent spoke last and the customer has not answered;
    agent_silence: the customer spoke last and is waiting for the agent (dead air).
    One episode per silence: the condition holds until someone speaks again.
    """

    name = "silence_after"
    params: dict[str, tuple[Any, Any]] = {
        "last_speaker": (str, None),
        "min_s": ((int, float), None),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.p["last_speaker"] not in ("agent", "customer"):
            raise ValueError("last_speaker must be 'agent' or 'customer'")
        if self.p["min_s"] <= 0:
            raise ValueError("min_s must be > 0")

    def check(self, ctx: Context) -> Condition | None:
        conv = ctx.conv
        if conv.anyone_speaking or conv.last_speaker != self.p["last_speaker"]:
            return None
        silence = conv.silence_s
        if silence < self.p["min_s"]:
            return None
        return Condition({"silence_s": round(silence, 2), "last_speaker": self.p["last_speaker"]})
