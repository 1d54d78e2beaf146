"""Two-channel conversation state: who is speaking, who spoke last, silences, talk share.

Built from each channel's VoiceActivity; times are in samples and exposed in seconds. This is
the snapshot the rule detectors read, so it holds facts, never policy.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from assist.core.audio import ANALYSIS_RATE
from assist.core.events import SPEAKERS, Speaker
from assist.core.vad import VadState, VoiceActivity

TALK_WINDOW_S = 180.0
RUN_HISTORY_S = 600.0  # closed runs kept for turn and talk-share queries


@dataclass(slots=True)
class SpeakerState:
    """What is known about one speaker at the current frame."""

    vad: VoiceActivity
    speaking: bool = False
    run_start: int | None = None  # sample where the current speech run began
    last_end: int | None = None  # sample where the last speech run ended
    _window: deque[tuple[int, int]] = field(default_factory=deque)  # closed runs (start, end)

    def talk_in_window(self, now: int, window: int) -> int:
        lo = now - window
        total = 0
        for s, e in reversed(self._window):
            if e <= lo:
                break
            total += e - max(s, lo)
        if self.speaking and self.run_start is not None:
            total += max(0, now - max(self.run_start, lo))
        return total


class Conversation:
    """Tracks both speakers; `update` is called once per frame pair after the VADs ran."""

    def __init__(
        self,
        agent: VoiceActivity,
        customer: VoiceActivity,
        *,
        sample_rate: int = ANALYSIS_RATE,
        talk_window_s: float = TALK_WINDOW_S,
    ) -> None:
        self.rate = sample_rate
        self.window = int(talk_window_s * sample_rate)
        self.history = max(self.window, int(RUN_HISTORY_S * sample_rate))
        self.speakers: dict[Speaker, SpeakerState] = {
            "agent": SpeakerState(agent),
            "customer": SpeakerState(customer),
        }
        self.now = 0
        self.overlap_start: int | None = None
        self.overlap_second: Speaker | None = None  # who started second in the current overlap
        # silence counts from here at the earliest: a paused recording (no audio by design)
        # is no silence of either speaker
        self.quiet_from = 0

    # -- updates -------------------------------------------------------------------------------

    def speech_started(self, speaker: Speaker, at: int) -> None:
        st = self.speakers[speaker]
        st.speaking = True
        st.run_start = at

    def speech_stopped(self, speaker: Speaker, at: int) -> None:
        st = self.speakers[speaker]
        if st.run_start is not None:
            st._window.append((st.run_start, at))
        st.speaking = False
        st.run_start = None
        st.last_end = at

    def update(self, now: int) -> None:
        self.now = now
        for st in self.speakers.values():
            while st._window and st._window[0][1] < now - self.history:
                st._window.popleft()
        a, c = self.speakers["agent"], self.speakers["customer"]
        if a.speaking and c.speaking and a.run_start is not None and c.run_start is not None:
            if self.overlap_start is None:
                self.overlap_start = max(a.run_start, c.run_start)
                self.overlap_second = "agent" if a.run_start >= c.run_start else "customer"
        else:
            self.overlap_start = None
            self.overlap_second = None

    # -- queries (seconds) ---------------------------------------------------------------------

    def seconds(self, samples: int) -> float:
        return samples / self.rate

    @property
    def t(self) -> float:
        return self.now / self.rate

    @property
    def anyone_speaking(self) -> bool:
        return any(st.speaking for st in self.speakers.values())

    @property
    def last_speaker(self) -> Speaker | None:
        """The speaker whose speech ended (or is going on) latest; None before anyone spoke."""
        best: Speaker | None = None
        best_end = -1
        for name in SPEAKERS:
            st = self.speakers[name]
            end = self.now if st.speaking else st.last_end
            if end is not None and end > best_end:
                best, best_end = name, end
        return best

    @property
    def silence_s(self) -> float:
        """Time since anyone last spoke; 0 while someone speaks or before anyone has."""
        if self.anyone_speaking:
            return 0.0
        ends = [st.last_end for st in self.speakers.values() if st.last_end is not None]
        return self.seconds(self.now - max(*ends, self.quiet_from)) if ends else 0.0

    def run_s(self, speaker: Speaker) -> float:
        st = self.speakers[speaker]
        if not st.speaking or st.run_start is None:
            return 0.0
        return self.seconds(self.now - st.run_start)

    @property
    def overlap_s(self) -> float:
        """How long both have been speaking, up to the last voiced frame of either (a run in
        its hangover may already be over: a 1.2 s interjection is not 1.6 s of overtalk)."""
        if self.overlap_start is None:
            return 0.0
        end = self.now
        for st in self.speakers.values():
            if st.vad.state is VadState.STOPPING:
                end = min(end, st.vad.voiced_until)
        return self.seconds(max(0, end - self.overlap_start))

    def talk_share(self, speaker: Speaker) -> float:
        """Share of `speaker` in all speech over the sliding window (0 when nobody spoke)."""
        mine = self.speakers[speaker].talk_in_window(self.now, self.window)
        total = sum(st.talk_in_window(self.now, self.window) for st in self.speakers.values())
        return mine / total if total else 0.0

    def talk_s(self, speaker: Speaker, window_s: float | None = None) -> float:
        """Speech of `speaker` over the last `window_s` (default: the talk-share window)."""
        window = self.window if window_s is None else int(window_s * self.rate)
        return self.seconds(self.speakers[speaker].talk_in_window(self.now, window))

    def stretch_start(self, speaker: Speaker, max_gap_s: float) -> int | None:
        """Sample where `speaker`'s current stretch of speech began, pauses shorter than
        `max_gap_s` included; None unless they speak now or paused less than that ago.

        Turn-level cues (monologue, an unacknowledged customer) must not restart at every
        breath, so they measure stretches rather than VAD runs."""
        st = self.speakers[speaker]
        gap = int(round(max_gap_s * self.rate))
        runs = reversed(st._window)
        if st.speaking and st.run_start is not None:
            start = st.run_start
        elif st.last_end is not None and self.now - st.last_end < gap and st._window:
            start = next(runs)[0]
        else:
            return None
        for s, e in runs:
            if start - e >= gap:
                break
            start = s
        return start

    def last_active(self, speaker: Speaker) -> int | None:
        """Sample of `speaker`'s latest speech: now while speaking, else their last end."""
        st = self.speakers[speaker]
        return self.now if st.speaking else st.last_end
