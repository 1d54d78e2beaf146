"""Voice (prosody) detectors: pace, level, and pitch + level against the speaker's baseline.

They read `ctx.features[speaker]` (assist.core.prosody.SpeakerProsody). Voice measures are noisy
from moment to moment, so each condition must hold for `hold_s` before it fires and, for the
emotional cues, stay off for `release_s` before it clears: a breath or a single calm word must
not flicker a prompt. While the speaker is silent there is no evidence either way, and the
state is kept.
"""

from __future__ import annotations

from typing import Any

from assist.core.context import Context
from assist.core.detector import Condition, Detector
from assist.core.detectors.checks import require_positive, require_speaker
from assist.core.events import Speaker
from assist.core.prosody import RATE_MIN_SPEECH_S, SpeakerProsody


class _Hold:
    """Debounce a per-frame verdict (True / False / None = no evidence) over audio time."""

    __slots__ = ("hold_s", "release_s", "since", "off_since", "on")

    def __init__(self, hold_s: float, release_s: float) -> None:
        self.hold_s = hold_s
        self.release_s = release_s
        self.since: float | None = None  # verdict True continuously since
        self.off_since: float | None = None  # while on: verdict False continuously since
        self.on = False

    def update(self, verdict: bool | None, now: float) -> bool:
        if self.on:
            if verdict is False:
                self.off_since = self.off_since if self.off_since is not None else now
                if now - self.off_since >= self.release_s:
                    self.on, self.since, self.off_since = False, None, None
            elif verdict is True:
                self.off_since = None
            return self.on
        if verdict is True:
            self.since = self.since if self.since is not None else now
            if now - self.since >= self.hold_s:
                self.on, self.off_since = True, None
        else:
            self.since = None
        return self.on


def _rises(f: SpeakerProsody) -> dict[str, Any]:
    return {
        "pitch_st": round(f.pitch_rise_st or 0.0, 2),
        "level_db": round(f.level_rise_db or 0.0, 2),
        "pitch_hz": round(f.pitch_hz or 0.0, 1),
    }


def _elevated(f: SpeakerProsody, pitch_st: float, level_db: float) -> bool | None:
    """Both pitch and level that far over baseline; None while there is no evidence."""
    p, e = f.pitch_rise_st, f.level_rise_db
    if p is None or e is None:
        return None
    return p >= pitch_st and e >= level_db


class Pace(Detector):
    """`speaker` talks at `max_wpm` or faster for `hold_s`, while speaking or within
    `active_s` of it; holds until the rate falls `release_wpm` below the limit. The hold keeps
    a rate that merely touches the limit for a moment from flashing a card.

    The rate is words per minute of speech from the speaker's final transcripts of the last
    `words_window_s` when speech recognition gives timed words for 3 s of speech or more
    (characters for zh), else syllable nuclei / `syllables_per_word` over their last 8 s of
    speech. Words are the better measure but arrive an utterance late; nuclei need no ASR.
    """

    name = "pace"
    params = {
        "speaker": (str, "agent"),
        "max_wpm": ((int, float), None),
        "syllables_per_word": ((int, float), 1.5),
        "release_wpm": ((int, float), 10.0),
        "active_s": ((int, float), 1.0),
        "words_window_s": ((int, float), 30.0),
        "hold_s": ((int, float), 0.0),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        require_speaker(self.p["speaker"])
        require_positive(self.p, "max_wpm", "syllables_per_word")
        limits = ("release_wpm", "active_s", "words_window_s", "hold_s")
        if min(self.p[k] for k in limits) < 0:
            raise ValueError("release_wpm, active_s, words_window_s and hold_s must be >= 0")
        self._on = False
        self._since: float | None = None  # audio time the rate first reached the limit
        self._finals_seen = 0
        self._words: tuple[float, float] | None = None  # (wpm, end of the latest final)

    def _words_wpm(self, ctx: Context) -> float | None:
        """Words (zh: characters) per minute of speech in recent finals; cached per final."""
        window = self.p["words_window_s"]
        if window <= 0:
            return None
        if len(ctx.finals) != self._finals_seen:
            self._finals_seen = len(ctx.finals)
            mine = [f for f in ctx.finals if f.speaker == self.p["speaker"] and f.words]
            latest = max((f.words[-1].end for f in mine), default=None)
            units, speech = 0, 0.0
            for f in mine:
                if latest is not None and f.words[-1].end >= latest - window:
                    units += sum(len(w.w) if self.pack.lang == "zh" else 1 for w in f.words)
                    speech += f.words[-1].end - f.words[0].start
            ok = latest is not None and speech >= RATE_MIN_SPEECH_S
            self._words = (units / speech * 60.0, latest) if ok else None  # type: ignore[assignment]
        if self._words is None or ctx.now - self._words[1] > window:
            return None
        return self._words[0]

    def check(self, ctx: Context) -> Condition | None:
        me: Speaker = self.p["speaker"]
        last = ctx.conv.last_active(me)
        if last is None or ctx.conv.seconds(ctx.conv.now - last) > self.p["active_s"]:
            self._on = False
            self._since = None
            return None
        wpm, source = self._words_wpm(ctx), "words"
        if wpm is None:
            wpm, source = ctx.features[me].wpm(self.p["syllables_per_word"]), "syllables"
        need = self.p["max_wpm"] - (self.p["release_wpm"] if self._on else 0.0)
        self._on = wpm is not None and wpm >= need
        if not self._on:
            self._since = None
            return None
        if self._since is None:
            self._since = ctx.now
        if ctx.now - self._since < self.p["hold_s"]:
            return None
        return Condition({"wpm": round(wpm or 0.0), "source": source, "speaker": me})


class Level(Detector):
    """`speaker`'s speech level (mean of the last 2 s of voiced frames) stays below
    `min_dbfs`, or less than `min_snr_db` over their line's noise floor, or above `max_dbfs`,
    for `hold_s`. Set only the bounds a rule needs (volume_low: the lower ones; volume_high:
    `max_dbfs`). Clears once the level is back inside for `release_s`."""

    name = "level"
    params = {
        "speaker": (str, "agent"),
        "min_dbfs": ((int, float), -120.0),
        "max_dbfs": ((int, float), 0.0),
        "min_snr_db": ((int, float), 0.0),
        "hold_s": ((int, float), 2.0),
        "release_s": ((int, float), 1.0),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        require_speaker(self.p["speaker"])
        if not self.p["min_dbfs"] < self.p["max_dbfs"] <= 0:
            raise ValueError("need min_dbfs < max_dbfs <= 0")
        if self.p["hold_s"] < 0 or self.p["release_s"] < 0 or self.p["min_snr_db"] < 0:
            raise ValueError("hold_s, release_s and min_snr_db must be >= 0")
        self._hold = _Hold(self.p["hold_s"], self.p["release_s"])

    def check(self, ctx: Context) -> Condition | None:
        f = ctx.features[self.p["speaker"]]
        level, snr = f.level_dbfs, f.snr_db
        verdict = None
        if level is not None and snr is not None:
            verdict = (
                level < self.p["min_dbfs"]
                or level > self.p["max_dbfs"]
                or snr < self.p["min_snr_db"]
            )
        if not self._hold.update(verdict, ctx.now):
            return None
        return Condition(
            {
                "level_dbfs": round(level if level is not None else f.noise_dbfs, 1),
                "noise_dbfs": round(f.noise_dbfs, 1),
                "speaker": self.p["speaker"],
            }
        )


class ElevatedVoice(Detector):
    """`speaker`'s pitch is `pitch_st` semitones and their level `level_db` dB above their own
    baseline (both), held for `hold_s`; clears after `release_s` back below (agitation)."""

    name = "elevated_voice"
    params = {
        "speaker": (str, "customer"),
        "pitch_st": ((int, float), None),
        "level_db": ((int, float), None),
        "hold_s": ((int, float), 2.0),
        "release_s": ((int, float), 4.0),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        require_speaker(self.p["speaker"])
        require_positive(self.p, "pitch_st", "level_db")
        if self.p["hold_s"] < 0 or self.p["release_s"] < 0:
            raise ValueError("hold_s and release_s must be >= 0")
        self._hold = _Hold(self.p["hold_s"], self.p["release_s"])

    def check(self, ctx: Context) -> Condition | None:
        f = ctx.features[self.p["speaker"]]
        verdict = _elevated(f, self.p["pitch_st"], self.p["level_db"])
        if not self._hold.update(verdict, ctx.now):
            return None
        return Condition({**_rises(f), "speaker": self.p["speaker"]})


class Escalating(Detector):
    """`speaker`'s pitch and level rise (`pitch_st`, `level_db` over their baseline, held
    `hold_s`) while the other side is agitated: the other side's voice was elevated
    (`other_pitch_st`, `other_level_db`) within the last `memory_s` (they take turns, so
    "while" spans the agent's reply). Clears after `release_s` of the speaker calm again."""

    name = "escalating"
    params = {
        "speaker": (str, "agent"),
        "pitch_st": ((int, float), None),
        "level_db": ((int, float), None),
        "other_pitch_st": ((int, float), None),
        "other_level_db": ((int, float), None),
        "memory_s": ((int, float), 15.0),
        "hold_s": ((int, float), 1.5),
        "release_s": ((int, float), 3.0),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        require_speaker(self.p["speaker"])
        require_positive(self.p, "pitch_st", "level_db", "other_pitch_st", "other_level_db")
        if min(self.p["memory_s"], self.p["hold_s"], self.p["release_s"]) < 0:
            raise ValueError("memory_s, hold_s and release_s must be >= 0")
        self._hold = _Hold(self.p["hold_s"], self.p["release_s"])
        self._other_at: float | None = None  # last time the other side was elevated

    def check(self, ctx: Context) -> Condition | None:
        me: Speaker = self.p["speaker"]
        other: Speaker = "customer" if me == "agent" else "agent"
        fo = ctx.features[other]
        if _elevated(fo, self.p["other_pitch_st"], self.p["other_level_db"]):
            self._other_at = ctx.now
        angry = self._other_at is not None and ctx.now - self._other_at <= self.p["memory_s"]
        f = ctx.features[me]
        verdict = _elevated(f, self.p["pitch_st"], self.p["level_db"]) if angry else False
        if not self._hold.update(verdict, ctx.now):
            return None
        return Condition({**_rises(f), "speaker": me})
