"""Whisper through CTranslate2: the second pass, one whole utterance at a time.

Not a streaming recogniser: it decodes the utterances the VAD closed
(`assist.runtime.second_pass`), never a stream. The encoder sees the utterance itself,
zero-padded to `min_window_s` (10 s), not the 30 s window faster-whisper's `transcribe` pads
every input to, so a decode's cost follows the speech (several times less CPU for the 2-8 s
utterances of a call: docs/speech.md). Whisper was trained on 30 s windows: in a short one it
may say a short phrase again and again into the padding. Guards: the floor (the shorter, the
more often it loops: measured by benchmarks/whisper.py), timestamps on (a segment that starts
where the audio has ended is dropped), a token budget that follows the audio's length, and a
window whose words repeat back to back is decoded again in 30 s. Longer than 30 s: decoded in
windows cut at the quietest moment near each 30 s boundary. Word times come from CTranslate2's
cross-attention alignment (faster-whisper's `find_alignment`).

Any CTranslate2 Whisper conversion works: English-only ones (`*.en`) for English, multilingual
ones for any language given as `lang`. Decoding is deterministic for the same audio (no
sampling, no temperature fallback), so `--fast` and real-time runs give the same words.
Thread-safe: the model holds `workers` CTranslate2 replicas, and `decode()` may be called from
that many threads at once (CTranslate2 releases the GIL while it computes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assist.asr.engine import Hypothesis
from assist.core.events import Word

WHISPER_RATE = 16_000
BEAM_SIZE = 1  # greedy: measured ≈ 3-5 % WER on the phone-channel clips; beam 5 costs ~2x
# Other languages, on the multilingual base: Mandarin through a phone line, CER 17 % greedy,
# 12.5 % with beam 5 (benchmarks/zh.py)
MULTI_BEAM_SIZE = 5
COMPUTE_TYPE = "int8"
MULTILINGUAL_VOCAB = 51_865  # English-only Whisper vocabularies have 51 864 tokens
MIN_AUDIO_S = 0.2  # shorter than this is a click, not an utterance: not worth a decode
HOP = 160  # samples per log-mel frame (10 ms)
MIN_WINDOW_S = 10.0  # the encoder's window is the utterance, padded to at least this (measured:
# shorter floors make Whisper loop more often, and a looped window costs a 30 s re-decode)
# (the same for other languages on the multilingual base: 15 s gave a lower Mandarin CER on
# 18 sentences, 12.1 % against 14.0 %, but misheard a read-back on the polite demo call)
MAX_WINDOW_S = 30.0  # Whisper's own window: longer audio is decoded in windows of this
SEGMENT_END_S = 0.3  # a segment starting this close to the audio's end is a repeat, not speech
CUT_SEARCH_S = 5.0  # a long input is cut at its quietest 20 ms in the last this of a window
TOKENS_PER_S = 12  # token budget per second of audio (fast speech is ~4 words/s, ~6 tokens/s)
TOKENS_MIN = 24  # plus this, for timestamps and short utterances
NO_SPEECH_PROB = 0.6  # faster-whisper's defaults: a window this likely silent ...
LOGPROB_SPEECH = -1.0  # ... and decoded with less confidence than this is dropped
PREPEND = "\"'“¿([{-"  # punctuation joined to the next word (faster-whisper's defaults)
APPEND = "\"'.。,，!！?？:：”)]}、"  # ... and to the previous one
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


def window_frames(frames: int, min_window_s: float) -> int:
    """Log-mel frames the encoder sees for `frames` frames of audio (at most one 30 s window):
    the audio's own, at least `min_window_s` worth, an even number (the encoder halves it)."""
    n = max(frames, round(min_window_s * WHISPER_RATE / HOP))
    return min(n + n % 2, round(MAX_WINDOW_S * WHISPER_RATE / HOP))


def cut_points(audio: np.ndarray) -> list[int]:
    """Where to cut audio longer than one window: each cut at the quietest 20 ms in the last
    `CUT_SEARCH_S` before the window's end (between words, where there is a pause)."""
    win, search, step = (
        round(MAX_WINDOW_S * WHISPER_RATE),
        round(CUT_SEARCH_S * WHISPER_RATE),
        320,
    )
    cuts, start = [0], 0
    while audio.shape[0] - start > win:
        lo = start + win - search
        frames = audio[lo : start + win].reshape(-1, step)
        start = lo + int(np.argmin((frames * frames).sum(axis=1))) * step + step // 2
        cuts.append(start)
    return [*cuts, audio.shape[0]]


def looping(tokens: list[int]) -> bool:
    """Whether a run of tokens repeats back to back, as Whisper does when a short window
    leaves it nothing to say: one token 4 times in a row, or any 2+ tokens twice. Real speech
    does that too ("no no no no", "thank you thank you"): it only costs a 30 s re-decode."""
    n = len(tokens)
    for i in range(n):
        if tokens[i : i + 4] == [tokens[i]] * 4:
            return True
        for k in range(2, (n - i) // 2 + 1):
            if tokens[i : i + k] == tokens[i + k : i + 2 * k]:
                return True
    return False


@dataclass(frozen=True, slots=True)
class _Segment:
    start: float  # seconds from the window's start
    tokens: tuple[int, ...]  # text tokens


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
        min_window_s: float = MIN_WINDOW_S,
        beam_size: int | None = None,
    ) -> None:
        if workers < 1 or threads < 1:
            raise ValueError("workers and threads must be >= 1")
        if not 1.0 <= min_window_s <= MAX_WINDOW_S:
            raise ValueError(f"min_window_s must be within 1..{MAX_WINDOW_S:g}")
        self.path = Path(path)
        self.lang = lang
        self.name = f"whisper:{name or self.path.name}"
        self.multilingual = is_multilingual(self.path)
        if not self.multilingual and lang != "en":
            raise ValueError(f"{self.path}: an English-only Whisper model cannot decode {lang!r}")
        self.workers = workers
        self.initial_prompt = initial_prompt
        self.min_window_s = min_window_s
        self.beam_size = beam_size or (BEAM_SIZE if lang == "en" else MULTI_BEAM_SIZE)
        self.simplify = lang == "zh"  # finals in simplified characters (assist.asr.chinese)
        self.windows = 0  # encoder windows run, and of those short windows decoded again
        self.retries = 0  # in 30 s because their words looped (counts for benchmarks)
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        try:
            # faster-whisper for what surrounds the model (log-mel features, tokenizer, word
            # alignment); its `transcribe` is not used (it pads every input to 30 s)
            self._fw: Any = WhisperModel(
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
        self._model: Any = self._fw.model  # ctranslate2.models.Whisper
        self._tok: Any = Tokenizer(
            self._fw.hf_tokenizer,
            self.multilingual,
            task="transcribe",
            language=lang if self.multilingual else "en",
        )
        self._suppress = list(get_suppressed_tokens(self._tok, [-1]))
        prompt: list[int] = []
        if initial_prompt:
            words = self._tok.encode(" " + initial_prompt.strip())
            prompt = [self._tok.sot_prev, *words[-(self._fw.max_length // 2 - 1) :]]
        self._prompt = prompt + list(self._tok.sot_sequence)

    def decode(self, audio: np.ndarray, *, offset_s: float = 0.0) -> Hypothesis | None:
        """The final of one utterance: `audio` is 16 kHz float32 mono; word times are seconds
        from its start plus `offset_s`. None when Whisper hears no words in it."""
        if audio.ndim != 1:
            raise ValueError("audio must be mono")
        if audio.shape[0] < MIN_AUDIO_S * WHISPER_RATE:
            return None
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        cuts = cut_points(audio)
        words: list[Word] = []
        texts: list[str] = []
        for a, b in zip(cuts, cuts[1:], strict=False):
            if b - a < MIN_AUDIO_S * WHISPER_RATE:
                continue
            text, got = self._window(audio[a:b], offset_s + a / WHISPER_RATE)
            texts += [text] if text else []
            words += got
        text = " ".join(texts)
        if not text or _NOISE_TEXT.match(text):
            return None
        if self.simplify:  # Whisper may answer in traditional characters
            from assist.asr.chinese import simplified

            text = simplified(text)
            words = [Word(simplified(w.w), w.start, w.end, w.conf) for w in words]
        return Hypothesis(kind="final", text=text, words=tuple(words))

    def _window(
        self, audio: np.ndarray, offset_s: float, min_window_s: float | None = None
    ) -> tuple[str, list[Word]]:
        """Decode at most 30 s: (text, words). A short window whose output
        loops is decoded again in a full 30 s window (as faster-whisper would have)."""
        import ctranslate2

        feats = self._fw.feature_extractor(audio)
        content = feats.shape[-1] - 1  # the extractor adds one frame past the end
        n = window_frames(content, min_window_s or self.min_window_s)
        x = np.zeros((1, feats.shape[0], n), np.float32)
        x[0, :, : min(content, n)] = feats[:, : min(content, n)]
        enc = self._model.encode(ctranslate2.StorageView.from_array(x))
        self.windows += 1
        content_s = audio.shape[0] / WHISPER_RATE
        budget = TOKENS_MIN + round(TOKENS_PER_S * content_s)
        res = self._model.generate(
            enc,
            [self._prompt],
            beam_size=self.beam_size,
            max_length=min(self._fw.max_length, len(self._prompt) + budget),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=self._suppress,
            max_initial_timestamp_index=50,  # the first words start within 1 s
        )[0]
        tokens = list(res.sequences_ids[0])
        avg_logprob = res.scores[0] * len(tokens) / (len(tokens) + 1)
        if res.no_speech_prob > NO_SPEECH_PROB and avg_logprob < LOGPROB_SPEECH:
            return "", []
        segs = self._segments(tokens, content_s)
        text_tokens = [t for s in segs for t in s.tokens]
        if n < window_frames(0, MAX_WINDOW_S) and (len(tokens) >= budget or looping(text_tokens)):
            self.retries += 1
            return self._window(audio, offset_s, MAX_WINDOW_S)
        if not text_tokens:
            return "", []
        text = " ".join(t for t in (self._tok.decode(list(s.tokens)).strip() for s in segs) if t)
        return text, self._words(text_tokens, enc, min(content, n), offset_s)

    def _segments(self, tokens: list[int], content_s: float) -> list[_Segment]:
        """Text between timestamp tokens, each with its start; a segment that starts where
        the audio has already ended is Whisper repeating itself into the padding: dropped."""
        first_ts, eot = self._tok.timestamp_begin, self._tok.eot
        segs: list[_Segment] = []
        start, cur = 0.0, list[int]()
        for t in tokens:
            if t >= first_ts:
                if cur:
                    segs.append(_Segment(start, tuple(cur)))
                    cur = []
                start = (t - first_ts) * 0.02
            elif t < eot:
                cur.append(t)
        if cur:
            segs.append(_Segment(start, tuple(cur)))
        return [s for s in segs if s.start < content_s - SEGMENT_END_S]

    def _words(self, tokens: list[int], enc: Any, frames: int, offset_s: float) -> list[Word]:
        from faster_whisper.transcribe import merge_punctuations

        timing = self._fw.find_alignment(self._tok, [tokens], enc, frames)[0]
        merge_punctuations(timing, PREPEND, APPEND)
        out = []
        for w in timing:
            token = str(w["word"]).strip()
            if token:
                out.append(
                    Word(
                        w=token,
                        start=round(offset_s + float(w["start"]), 3),
                        end=round(offset_s + float(w["end"]), 3),
                        conf=round(float(w["probability"]), 3),
                    )
                )
        return out
