"""Turn-taking detectors over the two-channel conversation state: silences, backchannels,
overtalk, monologues and talk share. Thresholds come from each rule's params."""

from __future__ import annotations

from typing import Any

from assist.core.context import Context
from assist.core.conversation import RUN_HISTORY_S
from assist.core.detector import Condition, Detector
from assist.core.detectors.checks import require_positive, require_speaker
from assist.core.events import Speaker


class SilenceAfter(Detector):
    """Neither side speaking for `min_s`, and `last_speaker` spoke last.

    customer_silence: the agent spoke last and the customer has not answered;
    agent_silence: the customer spoke last and is waiting for the agent (dead air).
    One episode per silence: the condition holds until someone speaks again.
    """

    name = "silence_after"
    params = {
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


def _other(speaker: Speaker) -> Speaker:
    return "customer" if speaker == "agent" else "agent"


class Unacknowledged(Detector):
    """`speaker` has held the floor for `min_s` without the other side making a sound.

    no_backchannel: the customer talks and the agent never says "mm-hm" / "I see". Any speech
    of the listener counts as acknowledgment (a backchannel is a short utterance; a long one
    takes the turn), and restarts the count. The talker's pauses shorter than `max_gap_s`
    belong to the same turn; a longer pause ends it.
    """

    name = "unacknowledged"
    params = {
        "speaker": (str, "customer"),
        "min_s": ((int, float), None),
        "max_gap_s": ((int, float), 1.5),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        require_speaker(self.p["speaker"])
        require_positive(self.p, "min_s", "max_gap_s")

    def check(self, ctx: Context) -> Condition | None:
        conv = ctx.conv
        me: Speaker = self.p["speaker"]
        start = conv.stretch_start(me, self.p["max_gap_s"])
        if start is None:
            return None
        ack = conv.last_active(_other(me))
        since = start if ack is None else max(start, ack)
        talked = conv.seconds(conv.now - since)
        if talked < self.p["min_s"]:
            return None
        return Condition({"talk_s": round(talked, 2), "speaker": me})


class Overtalk(Detector):
    """Both sides speaking for `min_s`, and `speaker` is the one who started second."""

    name = "overtalk"
    params = {
        "speaker": (str, "agent"),
        "min_s": ((int, float), None),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        require_speaker(self.p["speaker"])
        require_positive(self.p, "min_s")

    def check(self, ctx: Context) -> Condition | None:
        conv = ctx.conv
        if conv.overlap_second != self.p["speaker"] or conv.overlap_s < self.p["min_s"]:
            return None
        return Condition({"overlap_s": round(conv.overlap_s, 2), "speaker": self.p["speaker"]})


class Monologue(Detector):
    """`speaker` has talked for `min_s` with no pause of `max_gap_s` or more.

    Breaths and short pauses inside a monologue don't end it; a real pause (the agent
    stopping for the customer) does, and so ends the prompt.
    """

    name = "monologue"
    params = {
        "speaker": (str, "agent"),
        "min_s": ((int, float), None),
        "max_gap_s": ((int, float), 1.0),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        require_speaker(self.p["speaker"])
        require_positive(self.p, "min_s", "max_gap_s")

    def check(self, ctx: Context) -> Condition | None:
        conv = ctx.conv
        start = conv.stretch_start(self.p["speaker"], self.p["max_gap_s"])
        if start is None:
            return None
        run = conv.seconds(conv.now - start)
        if run < self.p["min_s"]:
            return None
        return Condition({"run_s": round(run, 2), "speaker": self.p["speaker"]})


class TalkShare(Detector):
    """`speaker`'s share of all speech over the last `window_s` is `min_share` or more, once
    both sides together have spoken `min_talk_s` in that window (early in a call one long
    answer is not a pattern). Holds until the share falls `release` below `min_share`.
    Re-computed every `every_s` of audio: the share moves slowly."""

    name = "talk_share"
    params = {
        "speaker": (str, "agent"),
        "min_share": ((int, float), None),
        "window_s": ((int, float), 180.0),
        "min_talk_s": ((int, float), 60.0),
        "release": ((int, float), 0.05),
        "every_s": ((int, float), 0.1),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        require_speaker(self.p["speaker"])
        require_positive(self.p, "window_s", "every_s")
        if not 0 < self.p["min_share"] <= 1:
            raise ValueError("min_share must be in (0, 1]")
        if not 0 <= self.p["release"] < self.p["min_share"]:
            raise ValueError("release must be in [0, min_share)")
        if self.p["window_s"] > RUN_HISTORY_S:
            raise ValueError(f"window_s must be <= {RUN_HISTORY_S:.0f}")
        if not 0 <= self.p["min_talk_s"] <= self.p["window_s"]:
            raise ValueError("min_talk_s must be in [0, window_s]")
        self._next = 0.0
        self._last: Condition | None = None

    def check(self, ctx: Context) -> Condition | None:
        if ctx.now < self._next:
            return self._last
        self._next = ctx.now + self.p["every_s"]
        conv = ctx.conv
        me: Speaker = self.p["speaker"]
        mine = conv.talk_s(me, self.p["window_s"])
        total = mine + conv.talk_s(_other(me), self.p["window_s"])
        share = mine / total if total else 0.0
        need = self.p["min_share"] - (self.p["release"] if self._last else 0.0)
        if total < self.p["min_talk_s"] or share < need:
            self._last = None
        else:
            self._last = Condition({"share": round(share, 3), "talk_s": round(total, 1)})
        return self._last
