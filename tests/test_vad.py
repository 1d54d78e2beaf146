"""Voice activity on its own: boundaries in phone noise, mu-law audio, and line-noise changes."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import noise, speechlike, timeline
from phone import phone_line

from assist.core.audio import FRAME_SAMPLES
from assist.core.vad import STEADY_S, VadConfig, VadState, VoiceActivity


def runs(x: np.ndarray, vad: VoiceActivity | None = None) -> list[tuple[float, float | None]]:
    """(start_s, stop_s) of every speech run the VAD reports; stop None if still speaking."""
    vad = vad or VoiceActivity()
    out: list[tuple[float, float | None]] = []
    for i in range(x.shape[0] // FRAME_SAMPLES):
        change = vad.feed(x[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES], (i + 1) * FRAME_SAMPLES)
        if change is None:
            continue
        at = change.at_sample / 16000
        if change.started:
            out.append((at, None))
        else:
            out[-1] = (out[-1][0], at)
    return out


@pytest.mark.parametrize("line", ["pcm16k", "mulaw8k"])
def test_boundaries_within_40ms_in_minus_50_dbfs_phone_noise(line: str) -> None:
    x = timeline(8, [(1.0, 2.5), (3.5, 6.2)], noise_dbfs=-50, level_dbfs=-26)
    if line == "mulaw8k":
        x = phone_line(x)
    got = runs(x)
    assert len(got) == 2
    for (a, b), (ea, eb) in zip(got, [(1.0, 2.5), (3.5, 6.2)], strict=True):
        assert a == pytest.approx(ea, abs=0.04)
        assert b == pytest.approx(eb, abs=0.04)


def test_quiet_speech_over_mulaw_line_noise_is_still_found() -> None:
    x = phone_line(timeline(5, [(1.0, 4.0)], noise_dbfs=-50, level_dbfs=-38))
    ((a, b),) = runs(x)
    assert a == pytest.approx(1.0, abs=0.04) and b == pytest.approx(4.0, abs=0.04)


def test_line_noise_alone_and_digital_silence_are_never_speech() -> None:
    assert runs(phone_line(noise(10, level_dbfs=-50))) == []
    assert runs(np.zeros(16000 * 3, np.float32)) == []


def test_a_sudden_lasting_rise_of_line_noise_is_not_speech_forever() -> None:
    x = noise(20, level_dbfs=-60, seed=3)
    x[16000 * 4 :] += noise(16, level_dbfs=-32, seed=4)  # a new, loud, steady hum from 4 s
    speech = speechlike(3, level_dbfs=-14, seed=5)
    x[16000 * 12 : 16000 * 15] += speech  # then the agent speaks over it
    vad = VoiceActivity()
    got = runs(x, vad)
    # the noise reads as speech at first, but only until it proves steady, and that run is
    # closed back at its onset; the later speech is found with exact boundaries
    assert len(got) == 2
    assert got[0][0] == pytest.approx(4.0, abs=0.04)
    assert got[0][1] == pytest.approx(4.0, abs=0.04)
    assert got[1][0] == pytest.approx(12.0, abs=0.04)
    assert got[1][1] == pytest.approx(15.0, abs=0.04)
    assert vad.floor_dbfs == pytest.approx(-32, abs=2)
    assert vad.state is VadState.QUIET


def test_steady_noise_is_rejected_one_steady_span_after_it_begins() -> None:
    x = noise(8, level_dbfs=-60, seed=3)
    x[16000 * 2 :] += noise(6, level_dbfs=-35, seed=4)
    vad = VoiceActivity()
    stopped_at = None
    for i in range(x.shape[0] // FRAME_SAMPLES):
        end = (i + 1) * FRAME_SAMPLES
        change = vad.feed(x[end - FRAME_SAMPLES : end], end)
        if change is not None and not change.started:
            stopped_at = end / 16000
    assert stopped_at is not None
    assert 2.0 + STEADY_S <= stopped_at <= 2.0 + STEADY_S + 0.1


def test_long_continuous_speech_is_not_mistaken_for_steady_noise() -> None:
    x = timeline(32, [(1.0, 31.0)], noise_dbfs=-50)
    ((a, b),) = runs(phone_line(x))
    assert a == pytest.approx(1.0, abs=0.04) and b == pytest.approx(31.0, abs=0.04)


def test_floor_follows_falling_noise_so_quieter_speech_counts() -> None:
    x = noise(12, level_dbfs=-60, seed=8)
    x[: 16000 * 5] += noise(5, level_dbfs=-36, seed=9)  # loud line at first, then it clears
    x[16000 * 7 : 16000 * 10] += speechlike(3, level_dbfs=-40, seed=2)
    got = runs(x)
    assert len(got) == 1
    assert got[0][0] == pytest.approx(7.0, abs=0.04)


def test_hangover_bridges_short_pauses_and_config_is_validated() -> None:
    x = timeline(6, [(1.0, 2.0), (2.3, 4.0)])  # 0.3 s pause < 0.4 s hangover
    assert len(runs(x)) == 1
    assert len(runs(x, VoiceActivity(VadConfig(hangover_s=0.2)))) == 2
    with pytest.raises(ValueError):
        VadConfig(start_frames=0)
    with pytest.raises(ValueError):
        VadConfig(hangover_s=-1)
