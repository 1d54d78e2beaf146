"""Whisper through faster-whisper (CTranslate2): the second pass, one whole utterance at a time.

Not a streaming recogniser: Whisper pads every input to a 30 s window, so one decode costs about
the same for 1 s or 15 s of audio (≈ 0.4 s of one core for tiny.en, int8, here). So it decodes
the utterances the VAD closed (`assist.runtime.second_pass`), never a stream. Any
CTranslate2 Whisper conversion works: English-only ones (`*.en`) for English, multilingual
ones for any language given as `lang`.

Decoding is deterministic for the same audio (no sampling, no temperature fallback),
so `--fast` and real-time runs give the same words. Thread-safe: the model holds `workers`
CTranslate2 replicas, and `decode()` may be called from that many threads at once (CTranslate2
releases the GIL while it computes).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from assist.asr.engine import Hypothesis
from assist.core.events import Word

WHISPER_RATE = 16_000
BEAM_SIZE = 1  # greedy: measured ≈ 11 % WER on the phone-channel clips; beam 5 costs ~2x
# Other languages, on the multilingual base: Mandarin through a phone line, CER 17 % greedy,
# 12.5 % with beam 5, for about the same CPU here (benchmarks/zh.py)
MULTI_BEAM_SIZE = 5
COMPUTE_TYPE = "int8"
MULTILINGUAL_VOCAB = 51_865  # English-only Whisper vocabularies have 51 864 tokens
MIN_AUDIO_S = 0.2  # shorter than this is a click, not an utterance: not worth a decode
# Whisper's stock answers to noise or silence: a final made only of these is dropped
# ("Thank you." is not among them: agents and customers say it).
_NOISE_TEXT = re.compile(r"^\W*(you|thanks for watching|\[[^]]*\]|\([^)]*\))?\W*$", re.I)


def vocabulary_size(path: Path) -> int:
    """Tokens in a CTranslate2 Whisper folder's vocabulary (vocabulary.txt or .json)."""
    txt = path / "vocabulary.txt"
    if txt.is_file():
        with open(txt, "rb") as f:
            return sum(1 for _ in f)
    js = path / "vocabulary.json"
    if js.is_file():
        import json

        return len(json.loads(js.read_text(encoding="utf-8")))
    return 0


def is_multilingual(path: Path) -> bool:
    return vocabulary_size(path) >= MULTILINGUAL_VOCAB


class WhisperEngine:
    """A loaded CTranslate2 Whisper model for one language; load once, share across calls."""

    fallback = False

    def __init__(
        self,
        path: str | Path,
        *,
        lang: str,
        name: str | None = None,
        workers: int = 1,
        threads: int = 1,
        initial_prompt: str | None = None,
    ) -> None:
        if workers < 1 or threads < 1:
            raise ValueError("workers and threads must be >= 1")
        self.path = Path(path)
        self.lang = lang
        self.name = f"whisper:{name or self.path.name}"
        self.multilingual = is_multilingual(self.path)
        if not self.multilingual and lang != "en":
            raise ValueError(f"{self.path}: an English-only Whisper model cannot decode {lang!r}")
        self.workers = workers
        self.initial_prompt = initial_prompt
        self.beam_size = BEAM_SIZE if lang == "en" else MULTI_BEAM_SIZE
        self.simplify = lang == "zh"  # finals in simplified characters (assist.asr.chinese)
        from faster_whisper import WhisperModel

        try:
            self.model: Any = WhisperModel(
                str(self.path),
                device="cpu",
                compute_type=COMPUTE_TYPE,
                cpu_threads=threads,
                num_workers=workers,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise ValueError(
                f"{self.path}: not a usable CTranslate2 Whisper model ({exc})"
            ) from None

    def decode(self, audio: np.ndarray, *, offset_s: float = 0.0) -> Hypothesis | None:
        """The final of one utterance: `audio` is 16 kHz float32 mono; word times are seconds
        from its start plus `offset_s`. None when Whisper hears no words in it."""
        if audio.ndim != 1:
            raise ValueError("audio must be mono")
        if audio.shape[0] < MIN_AUDIO_S * WHISPER_RATE:
            return None
        segments, _info = self.model.transcribe(
            np.ascontiguousarray(audio, dtype=np.float32),
            language=self.lang if self.multilingual else "en",
            task="transcribe",
            beam_size=self.beam_size,
            temperature=0.0,
            word_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
            initial_prompt=self.initial_prompt,
        )
        words: list[Word] = []
        texts: list[str] = []
        for seg in segments:  # a generator: decoding happens here
            texts.append(seg.text.strip())
            for w in seg.words or ():
                token = w.word.strip()
                if token:
                    words.append(
                        Word(
                            w=token,
                            start=round(offset_s + float(w.start), 3),
                            end=round(offset_s + float(w.end), 3),
                            conf=round(float(w.probability), 3),
                        )
                    )
        text = " ".join(t for t in texts if t)
        if not text or _NOISE_TEXT.match(text):
            return None
        if self.simplify:  # Whisper may answer in traditional characters
            from assist.asr.chinese import simplified

            text = simplified(text)
            words = [Word(simplified(w.w), w.start, w.end, w.conf) for w in words]
        return Hypothesis(kind="final", text=text, words=tuple(words))
