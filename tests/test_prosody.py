"""Prosody on its own: F0 accuracy (also through 8 kHz mu-law), baselines, speaking rate on
synthetic syllables and on real espeak-ng speech, level over line noise."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import noise, speechlike, timeline
from phone import phone_line

from assist.core.audio import FRAME_SAMPLES
from assist.core.prosody import (
    BASELINE_ST_PER_S,
    BASELINE_WARMUP_S,
    PitchTracker,
    SpeakerProsody,
    semitones,
)
from assist.core.vad import VoiceActivity
from assist.runtime.wavio import load_call, write_wav


def analyse(x: np.ndarray, lang: str = "en", every: float | None = None):  # type: ignore[no-untyped-def]
    """Run VAD + prosody over `x`; return the tracker (and snapshots every `every` s)."""
    vad, sp = VoiceActivity(), SpeakerProsody(lang=lang)
    snaps = []
    for i in range(x.shape[0] // FRAME_SAMPLES):
        end = (i + 1) * FRAME_SAMPLES
        frame = x[end - FRAME_SAMPLES : end]
        vad.feed(frame, end)
        sp.feed(
            frame,
            end,
            speaking=vad.speaking,
            voiced=vad.voiced,
            level_dbfs=float(vad.level_dbfs),
            noise_dbfs=float(vad.floor_dbfs),
        )
        if every and end % int(every * 16000) == 0:
            snaps.append((end / 16000, sp.pitch_rise_st, sp.level_rise_db, sp.pitch_base.value))
    return (sp, snaps) if every else sp


@pytest.mark.parametrize("f0", [70.0, 110.0, 165.0, 240.0, 380.0])
@pytest.mark.parametrize("line", ["pcm16k", "mulaw8k"])
def test_pitch_within_one_and_a_half_percent(f0: float, line: str) -> None:
    x = speechlike(0.5, f0=f0, seed=4) + noise(0.5, level_dbfs=-50)
    if line == "mulaw8k":
        x = phone_line(x)
    # speechlike() wobbles 3 % around f0 at 0.7 Hz, with a phase from its seed: the truth
    phase = np.random.default_rng(4).uniform(0, 6)
    tracker = PitchTracker()
    for i in range(0, 7000, FRAME_SAMPLES):
        centre = (i + FRAME_SAMPLES) / 16000
        truth = f0 * (1 + 0.03 * np.sin(2 * np.pi * 0.7 * centre + phase))
        assert tracker.estimate(x[i : i + 2 * FRAME_SAMPLES]) == pytest.approx(truth, rel=0.015)


def test_noise_and_silence_have_no_pitch() -> None:
    tracker = PitchTracker()
    assert tracker.estimate(noise(0.04, level_dbfs=-20)) is None
    assert tracker.estimate(np.zeros(2 * FRAME_SAMPLES, np.float32)) is None


def test_baseline_forms_after_warmup_and_follows_a_raised_voice_only_slowly() -> None:
    calm = timeline(12, [(0.5, 12.0)], f0=140.0)
    raised = timeline(10, [(0.0, 10.0)], f0=200.0, level_dbfs=-12.0)
    sp, snaps = analyse(np.concatenate([calm, raised]), every=0.5)
    by_t = {t: (p, e, b) for t, p, e, b in snaps}
    assert by_t[4.0][2] is None  # not yet BASELINE_WARMUP_S of voiced speech
    assert by_t[0.5 + BASELINE_WARMUP_S + 1.0][2] == pytest.approx(semitones(140.0), abs=0.2)
    assert by_t[11.0][0] == pytest.approx(0.0, abs=0.3)  # calm: at baseline
    assert by_t[11.0][1] == pytest.approx(0.0, abs=1.0)
    # shouting for 9 s: +6.2 st and +8 dB, and the baseline crept up by <= 0.1 st a second
    p, e, base = by_t[21.0]
    assert base - semitones(140.0) <= 9.5 * BASELINE_ST_PER_S + 0.2
    assert p == pytest.approx(12 * np.log2(200 / 140) - (base - semitones(140.0)), abs=0.4)
    assert e >= 6.0
    assert sp.mood == "agitated"


@pytest.mark.parametrize(("syllable_hz", "wpm"), [(1.5, 120), (2.0, 160), (3.0, 240)])
def test_speaking_rate_of_synthetic_syllables(syllable_hz: float, wpm: float) -> None:
    x = phone_line(timeline(12, [(0.5, 11.5)], syllable_hz=syllable_hz, noise_dbfs=-50))
    sp = analyse(x)
    assert sp.syllable_rate == pytest.approx(2 * syllable_hz, rel=0.1)
    assert sp.wpm() == pytest.approx(wpm, rel=0.1)  # 1.5 syllables per English word


def test_no_rate_before_three_seconds_of_speech() -> None:
    sp = analyse(timeline(4, [(0.5, 3.0)]))
    assert sp.syllable_rate is None and sp.wpm() is None


TEXT = (
    "Thank you for calling Acme bank. I understand that your card was charged twice for the "
    "same purchase last week, and I can certainly look into that for you right now. Could you "
    "please confirm the last four digits of the card and the date of the purchase."
)


@pytest.mark.parametrize("rate", [130, 220])
def test_speaking_rate_of_real_speech_within_15_percent(tmp_path: Path, rate: int) -> None:
    wav = tmp_path / "s.wav"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", str(rate), "-w", str(wav), TEXT],
        check=True,
        capture_output=True,
        timeout=60,
    )
    x, _, _ = load_call(agent=wav, customer=wav)
    x = x / np.sqrt(np.mean(x**2)) * 10 ** (-22 / 20)
    x = phone_line(x + noise(x.shape[0] / 16000, level_dbfs=-50)[: x.shape[0]])
    sp = analyse(x)
    words = len(TEXT.split())
    speech_s = sp.speech_frames * FRAME_SAMPLES / 16000
    true_wpm = words / speech_s * 60  # words per minute of speech (pauses excluded)
    # the estimate covers the last 8 s of speech; the text is spoken at an even rate
    assert sp.wpm() == pytest.approx(true_wpm, rel=0.15)


def test_level_and_snr_over_the_line_noise(tmp_path: Path) -> None:
    x = timeline(4, [(0.5, 3.5)], level_dbfs=-30.0, noise_dbfs=-50.0)
    write_wav(tmp_path / "x.wav", x, 16000)  # round-trip through 16-bit PCM, as a file would
    a, _, _ = load_call(agent=tmp_path / "x.wav", customer=tmp_path / "x.wav")
    sp = analyse(a[: 16000 * 3])
    assert sp.level_dbfs == pytest.approx(-30.0, abs=1.5)
    assert sp.noise_dbfs == pytest.approx(-50.0, abs=2.0)
    assert sp.snr_db == pytest.approx(20.0, abs=3.0)
