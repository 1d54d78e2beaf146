"""Per-channel voice activity: frame energy against an adaptive noise floor, with hysteresis.

A frame is *voiced* when its level stands SNR_DB above the channel's noise floor (and above an
absolute floor, so digital silence never counts). Speech *starts* after START_FRAMES voiced
frames and *stops* after HANGOVER_S without one; both boundaries are back-dated to the first
and last voiced frame, so silence lengths are exact even though the decision is late.

The floor follows the line noise down quickly and up slowly while nobody speaks. A sudden,
lasting rise of steady line noise (a new hum, a noisy headset) would otherwise read as speech
forever, because the floor never rises during speech. Speech is never steady, though: its
20 ms levels swing by several dB with syllables, while line noise varies by well under 1 dB.
So once STEADY_S of "speech" has a level spread under STEADY_STD_DB, it is re-classified as
noise: the floor jumps to its level and the run stops, back-dated to where the steady stretch
began.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

import numpy as np

from assist.core.audio import ANALYSIS_RATE, FRAME_SAMPLES, Samples

SNR_DB = 9.0
ABS_MIN_DBFS = -60.0
START_FRAMES = 3
HANGOVER_S = 0.4
FLOOR_INIT_DBFS = -70.0
FLOOR_RISE_DB_PER_S = 1.5  # how fast the floor creeps up through steady noise
FLOOR_FALL = 0.3  # fraction of the gap closed per frame when the level drops below the floor
STEADY_S = 1.0  # this long with a level spread under STEADY_STD_DB is line noise, not speech
STEADY_STD_DB = 0.8  # speech frames spread > 1.2 dB (syllables); noise ~0.35 dB (white, 20 ms)


class VadState(enum.Enum):
    QUIET = "quiet"
    STARTING = "starting"
    SPEAKING = "speaking"
    STOPPING = "stopping"


@dataclass(frozen=True, slots=True)
class VadConfig:
    snr_db: float = SNR_DB
    abs_min_dbfs: float = ABS_MIN_DBFS
    start_frames: int = START_FRAMES
    hangover_s: float = HANGOVER_S

    def __post_init__(self) -> None:
        if self.start_frames < 1:
            raise ValueError("start_frames must be >= 1")
        if self.hangover_s < 0:
            raise ValueError("hangover_s must be >= 0")


@dataclass(frozen=True, slots=True)
class VadTransition:
    """Speech started or stopped; `at_sample` is the back-dated boundary."""

    started: bool
    at_sample: int


class VoiceActivity:
    """Hysteresis state machine over per-frame voicing decisions for one channel."""

    def __init__(
        self, config: VadConfig | None = None, *, sample_rate: int = ANALYSIS_RATE
    ) -> None:
        self.config = config or VadConfig()
        self.sample_rate = sample_rate
        self.state = VadState.QUIET
        self.floor_dbfs = FLOOR_INIT_DBFS
        self.level_dbfs = -120.0
        self.voiced = False
        self._floor_seeded = False
        self._run_start = 0  # first voiced sample of the current/candidate run
        self._last_voiced_end = 0  # end sample of the last voiced frame in confirmed speech
        self._starting_count = 0
        self._hangover_samples = int(round(self.config.hangover_s * sample_rate))
        self.speech_start: int | None = None  # confirmed run start, while speaking
        self._steady = _SteadyLevel(max(2, int(round(STEADY_S * sample_rate / FRAME_SAMPLES))))

    @property
    def speaking(self) -> bool:
        return self.state in (VadState.SPEAKING, VadState.STOPPING)

    @property
    def voiced_until(self) -> int:
        """End sample of the last voiced frame of the current run: during the hangover the
        run is still open but this is where the speech really is so far."""
        return self._last_voiced_end

    def feed(self, frame: Samples, end_sample: int) -> VadTransition | None:
        """Classify one frame ending at `end_sample`; return a transition if one happened."""
        n = frame.shape[0]
        start_sample = end_sample - n
        energy = float(np.dot(frame, frame)) / n if n else 0.0
        self.level_dbfs = max(-120.0, 10.0 * np.log10(energy + 1e-12))
        self.voiced = self.decide(self.level_dbfs)
        self._steady.push(self.level_dbfs, start_sample)
        if self.voiced and self.state is VadState.SPEAKING and self._steady.steady:
            return self._reject_steady_noise()
        self._track_floor(n)

        if self.state is VadState.QUIET:
            if self.voiced:
                self._run_start = start_sample
                self._starting_count = 1
                self.state = VadState.STARTING
                if self.config.start_frames <= 1:
                    return self._confirm(end_sample)
            return None
        if self.state is VadState.STARTING:
            if self.voiced:
                self._starting_count += 1
                if self._starting_count >= self.config.start_frames:
                    return self._confirm(end_sample)
            else:
                self.state = VadState.QUIET
            return None
        # SPEAKING or STOPPING
        if self.voiced:
            self._last_voiced_end = end_sample
            self.state = VadState.SPEAKING
            return None
        self.state = VadState.STOPPING
        if end_sample - self._last_voiced_end >= self._hangover_samples:
            self.state = VadState.QUIET
            self.speech_start = None
            return VadTransition(started=False, at_sample=self._last_voiced_end)
        return None

    def decide(self, level_dbfs: float) -> bool:
        """The per-frame voicing decision (before hysteresis)."""
        threshold = max(self.floor_dbfs + self.config.snr_db, self.config.abs_min_dbfs)
        return level_dbfs > threshold

    def _confirm(self, end_sample: int) -> VadTransition:
        self.state = VadState.SPEAKING
        self.speech_start = self._run_start
        self._last_voiced_end = end_sample
        return VadTransition(started=True, at_sample=self._run_start)

    def _reject_steady_noise(self) -> VadTransition:
        """The current "speech" is a steady level: make it the floor and end the run where the
        steady stretch began (never before the run itself began)."""
        self.floor_dbfs = self._steady.mean
        self.voiced = False
        at = max(self._steady.first_sample, self.speech_start or 0)
        at = min(at, self._last_voiced_end)
        self.state = VadState.QUIET
        self.speech_start = None
        self._steady.clear()
        return VadTransition(started=False, at_sample=at)

    def _track_floor(self, n: int) -> None:
        level = self.level_dbfs
        if level <= -119.0:  # digital silence says nothing about line noise
            return
        if not self._floor_seeded:
            self.floor_dbfs = min(level, FLOOR_INIT_DBFS + 30.0)
            self._floor_seeded = True
            return
        if level < self.floor_dbfs:
            self.floor_dbfs += FLOOR_FALL * (level - self.floor_dbfs)
        elif not self.voiced or self.state is VadState.QUIET:
            rise = FLOOR_RISE_DB_PER_S * n / self.sample_rate
            self.floor_dbfs = min(level, self.floor_dbfs + rise)


class _SteadyLevel:
    """Mean and spread of the last `size` frame levels, in O(1) per frame."""

    __slots__ = ("size", "_levels", "_starts", "_sum", "_sumsq")

    def __init__(self, size: int) -> None:
        self.size = size
        self._levels: deque[float] = deque()
        self._starts: deque[int] = deque()
        self._sum = 0.0
        self._sumsq = 0.0

    def push(self, level: float, start_sample: int) -> None:
        self._levels.append(level)
        self._starts.append(start_sample)
        self._sum += level
        self._sumsq += level * level
        if len(self._levels) > self.size:
            old = self._levels.popleft()
            self._starts.popleft()
            self._sum -= old
            self._sumsq -= old * old

    def clear(self) -> None:
        self._levels.clear()
        self._starts.clear()
        self._sum = self._sumsq = 0.0

    @property
    def mean(self) -> float:
        return self._sum / len(self._levels) if self._levels else -120.0

    @property
    def first_sample(self) -> int:
        return self._starts[0] if self._starts else 0

    @property
    def steady(self) -> bool:
        if len(self._levels) < self.size:
            return False
        var = self._sumsq / self.size - self.mean**2
        return var < STEADY_STD_DB**2
