"""Per-speaker prosody from 20 ms frames: pitch, level and speaking rate, each also measured
against the speaker's own running baseline (what is loud or high for one voice is normal for
another).

Cheap by design (it runs inline for every frame of every call): pitch is a normalised
autocorrelation of the last 40 ms at 8 kHz (phone audio has nothing above 4 kHz), computed only
on frames the VAD found voiced; speaking rate counts syllable nuclei, peaks of the 10 ms level
envelope that rise and fall by NUCLEUS_DB, per second of speech (on espeak-ng English at
130-220 wpm it reads within 15 % of the true rate; see tests/test_prosody.py).

Baselines start as the median of the speaker's first BASELINE_WARMUP_S of voiced speech, then
follow the median slowly (BASELINE_*_PER_S), so a minute of shouting moves them little while a
voice that was simply quiet at first is caught up with. "Current" values are over the voiced
frames of the last WINDOW_S of audio: a median for pitch, a mean for level.
"""

from __future__ import annotations

import math
import statistics
from collections import deque

import numpy as np

from assist.core.audio import ANALYSIS_RATE, FRAME_SAMPLES, Samples

PITCH_MIN_HZ = 60.0
PITCH_MAX_HZ = 400.0
PITCH_RATE = 8000  # pitch is tracked on a 2:1 decimation: phone speech has no energy above 4k
VOICING_MIN = 0.5  # normalised autocorrelation peak for a frame to count as pitched
OCTAVE_SLACK = 0.9  # take the shortest-lag peak within this fraction of the best (no halving)
WINDOW_S = 2.0  # "current" pitch/level: voiced frames of the last 2 s of audio
MIN_WINDOW_VOICED_S = 0.5  # fewer voiced seconds than this in the window: no current value
BASELINE_WARMUP_S = 4.0  # voiced speech before a baseline exists
BASELINE_ST_PER_S = 0.1  # how fast the pitch baseline follows, semitones per voiced second
BASELINE_DB_PER_S = 0.15  # how fast the level baseline follows, dB per voiced second
NUCLEUS_DB = 2.0  # a syllable nucleus rises and then falls by this much on the 10 ms envelope
RATE_WINDOW_S = 8.0  # speaking rate over the speaker's last 8 s of speech
RATE_MIN_SPEECH_S = 3.0  # and only once there is that much speech
SYLLABLES_PER_WORD = {"en": 1.5, "zh": 1.0}  # zh "words" are characters (one syllable each)
MOOD_TENSE = (1.5, 3.0)  # (semitones, dB) over baseline, both: tense
MOOD_AGITATED = (3.0, 5.0)  # both: agitated


def semitones(hz: float) -> float:
    """Pitch on a log scale (semitones above 100 Hz), where equal steps sound equal."""
    return 12.0 * math.log2(hz / 100.0)


class PitchTracker:
    """F0 of a short window by normalised autocorrelation (FFT), with octave-error guards."""

    def __init__(self, sample_rate: int = ANALYSIS_RATE) -> None:
        if sample_rate % PITCH_RATE:
            raise ValueError(f"sample rate must be a multiple of {PITCH_RATE}")
        self.decimate = sample_rate // PITCH_RATE
        n = 2 * FRAME_SAMPLES // self.decimate  # 40 ms
        self.n = n
        self.min_lag = int(PITCH_RATE / PITCH_MAX_HZ) - 2  # margin: a peak needs neighbours
        self.max_lag = int(math.ceil(PITCH_RATE / PITCH_MIN_HZ))
        self.nfft = 1 << int(math.ceil(math.log2(n + self.max_lag + 1)))
        lags = np.arange(self.max_lag + 2)
        self._unbias = n / np.maximum(n - lags, 1)  # undo the biased estimate's lag taper

    def estimate(self, x: Samples) -> float | None:
        """F0 in Hz of `x` (the last 40 ms at the analysis rate), or None if not pitched."""
        if self.decimate == 2:
            x = x[::2] + x[1::2]  # scale does not matter: r is normalised
        elif self.decimate > 1:
            x = x.reshape(-1, self.decimate).sum(axis=1)
        x = x - float(x.sum()) / x.shape[0]
        spec = np.fft.rfft(x, self.nfft)
        r = np.fft.irfft(spec.real**2 + spec.imag**2, self.nfft)[: self.max_lag + 2]
        if r[0] <= 1e-12:
            return None
        r = r / r[0] * self._unbias
        seg = r[self.min_lag : self.max_lag + 1]
        peaks = np.flatnonzero((seg[1:-1] > seg[:-2]) & (seg[1:-1] >= seg[2:])) + 1
        if peaks.size == 0:
            return None
        best = float(seg[peaks].max())
        if best < VOICING_MIN:
            return None
        i = int(peaks[seg[peaks] >= OCTAVE_SLACK * best][0])
        a, b, c = seg[i - 1], seg[i], seg[i + 1]
        den = a - 2 * b + c
        shift = 0.5 * (a - c) / den if den < 0 else 0.0
        return PITCH_RATE / (self.min_lag + i + shift)


class _MedianBaseline:
    """Median of the first `warmup` values, then a slow median tracker (fixed step)."""

    __slots__ = ("warmup", "step", "value", "_seed")

    def __init__(self, warmup: int, step: float) -> None:
        self.warmup = warmup
        self.step = step
        self.value: float | None = None
        self._seed: list[float] = []

    def push(self, x: float) -> None:
        if self.value is None:
            self._seed.append(x)
            if len(self._seed) >= self.warmup:
                self.value = float(np.median(self._seed))
                self._seed = []
        elif x > self.value:
            self.value += self.step
        elif x < self.value:
            self.value -= self.step


class SpeakerProsody:
    """Prosody of one speaker. `feed` once per frame, after that channel's VAD."""

    def __init__(self, *, sample_rate: int = ANALYSIS_RATE, lang: str = "en") -> None:
        self.rate = sample_rate
        self.frame_s = FRAME_SAMPLES / sample_rate
        self.syllables_per_word = SYLLABLES_PER_WORD.get(lang, 1.5)
        self.pitch = PitchTracker(sample_rate)
        warm = int(round(BASELINE_WARMUP_S / self.frame_s))
        self.pitch_base = _MedianBaseline(warm, BASELINE_ST_PER_S * self.frame_s)
        self.level_base = _MedianBaseline(warm, BASELINE_DB_PER_S * self.frame_s)
        self._prev = np.zeros(FRAME_SAMPLES, np.float32)
        self._window = int(round(WINDOW_S * sample_rate))
        self._min_voiced = int(round(MIN_WINDOW_VOICED_S / self.frame_s))
        self._levels: deque[tuple[int, float]] = deque()  # (end sample, dBFS) voiced frames
        self._level_sum = 0.0
        self._pitches: deque[tuple[int, float]] = deque()  # (end sample, semitones) pitched
        self.noise_dbfs = -120.0
        # speaking rate
        self._env: deque[float] = deque(maxlen=3)  # 10 ms envelope, smoothed over 3 hops
        self._rising = True
        self._trough = math.inf
        self._peak = -math.inf
        self.speech_frames = 0  # frames of speech so far (the rate's time axis)
        self._nuclei: deque[int] = deque()  # speech_frames count at each nucleus
        self._rate_frames = int(round(RATE_WINDOW_S / self.frame_s))
        self._cache_key = (-1, -1)
        self._cache: tuple[float | None, float | None] = (None, None)

    def feed(
        self,
        frame: Samples,
        end_sample: int,
        *,
        speaking: bool,
        voiced: bool,
        level_dbfs: float,
        noise_dbfs: float,
    ) -> None:
        self.noise_dbfs = noise_dbfs
        if voiced and speaking:
            f0 = self.pitch.estimate(np.concatenate((self._prev, frame)))
            if f0 is not None:
                st = semitones(f0)
                self.pitch_base.push(st)
                self._pitches.append((end_sample, st))
            self.level_base.push(level_dbfs)
            self._levels.append((end_sample, level_dbfs))
            self._level_sum += level_dbfs
        lo = end_sample - self._window
        while self._levels and self._levels[0][0] <= lo:
            self._level_sum -= self._levels.popleft()[1]
        while self._pitches and self._pitches[0][0] <= lo:
            self._pitches.popleft()
        if not self._levels:
            self._level_sum = 0.0  # no drift from the running sum
        if speaking:
            self.speech_frames += 1
            half = FRAME_SAMPLES // 2
            for part in (frame[:half], frame[half:]):
                e = float(np.dot(part, part)) / half
                self._envelope(10.0 * math.log10(e + 1e-12))
            while self._nuclei and self._nuclei[0] <= self.speech_frames - self._rate_frames:
                self._nuclei.popleft()
        else:
            self._env.clear()
            self._rising, self._trough, self._peak = True, math.inf, -math.inf
        self._prev = frame

    def _envelope(self, db: float) -> None:
        """Hysteresis peak picking on the smoothed 10 ms level: one peak = one nucleus."""
        self._env.append(db)
        e = sum(self._env) / len(self._env)
        if self._rising:
            self._peak = max(self._peak, e)
            if e < self._peak - NUCLEUS_DB and self._peak - self._trough >= NUCLEUS_DB:
                self._nuclei.append(self.speech_frames)
                self._rising, self._trough = False, e
            elif e < self._trough:
                self._trough, self._peak = e, e
        else:
            self._trough = min(self._trough, e)
            if e > self._trough + NUCLEUS_DB:
                self._rising, self._peak = True, e

    # -- features ------------------------------------------------------------------------------

    def _current(self) -> tuple[float | None, float | None]:
        """(median semitones, mean dBFS) over the window's voiced frames, cached per frame."""
        n = len(self._levels)
        key = (self._levels[-1][0] if n else -1, n)
        if key != self._cache_key:
            self._cache_key = key
            if n < self._min_voiced:
                self._cache = (None, None)
            else:
                med = None
                if len(self._pitches) >= self._min_voiced:
                    med = statistics.median(st for _, st in self._pitches)
                self._cache = (med, self._level_sum / n)
        return self._cache

    @property
    def pitch_hz(self) -> float | None:
        """Median F0 of the recent voiced frames."""
        st = self._current()[0]
        return None if st is None else 100.0 * 2 ** (st / 12.0)

    @property
    def level_dbfs(self) -> float | None:
        """Mean level of the recent voiced frames."""
        return self._current()[1]

    @property
    def snr_db(self) -> float | None:
        """Recent speech level over this line's noise floor."""
        lv = self.level_dbfs
        return None if lv is None else lv - self.noise_dbfs

    @property
    def pitch_rise_st(self) -> float | None:
        """Recent pitch over the speaker's baseline, in semitones (None until both exist)."""
        st, base = self._current()[0], self.pitch_base.value
        return None if st is None or base is None else st - base

    @property
    def level_rise_db(self) -> float | None:
        """Recent level over the speaker's baseline, in dB (None until both exist)."""
        lv, base = self._current()[1], self.level_base.value
        return None if lv is None or base is None else lv - base

    @property
    def syllable_rate(self) -> float | None:
        """Syllable nuclei per second of speech over the last RATE_WINDOW_S of speech."""
        frames = min(self.speech_frames, self._rate_frames)
        if frames * self.frame_s < RATE_MIN_SPEECH_S:
            return None
        return len(self._nuclei) / (frames * self.frame_s)

    def wpm(self, syllables_per_word: float | None = None) -> float | None:
        """Speaking rate in words per minute (characters per minute for zh)."""
        rate = self.syllable_rate
        spw = syllables_per_word or self.syllables_per_word
        return None if rate is None else rate * 60.0 / spw

    def elevated(self, pitch_st: float, level_db: float) -> bool:
        """Pitch and level both at least this far above the speaker's own baseline."""
        p, e = self.pitch_rise_st, self.level_rise_db
        return p is not None and e is not None and p >= pitch_st and e >= level_db

    @property
    def mood(self) -> str | None:
        """calm / tense / agitated from pitch and level over baseline; None before a baseline."""
        if self.pitch_base.value is None or self.level_base.value is None:
            return None
        if self.elevated(*MOOD_AGITATED):
            return "agitated"
        if self.elevated(*MOOD_TENSE):
            return "tense"
        return "calm"
