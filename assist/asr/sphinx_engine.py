"""PocketSphinx: the embedded English default used when no Vosk model for English is present.

Lower accuracy than Vosk, but the `pocketsphinx` wheel ships its en-us model, so English word
cues work after a plain install. Utterances are cut by PocketSphinx's own endpointer (a WebRTC
VAD over a 0.3 s window), so the same audio always gives the same utterances and times.
"""

from __future__ import annotations

from assist.asr.engine import Hypothesis, Kind
from assist.asr.results import clean_token, join_words
from assist.core.events import Word

SPHINX_RATE = 16_000  # the bundled en-us acoustic model is wideband
FRAME_RATE = 100  # PocketSphinx segment times are in 10 ms frames


class SphinxEngine:
    """The bundled en-us model. Decoders are made per recogniser (about 0.4 s each)."""

    fallback = True
    lang = "en"
    name = "pocketsphinx:en-us"

    def __init__(self) -> None:
        import pocketsphinx  # noqa: F401  (fail here, loudly, if it is not installed)

    def recognizer(self, sample_rate: int) -> SphinxRecognizer:
        return SphinxRecognizer(self, sample_rate)


class SphinxRecognizer:
    def __init__(self, engine: SphinxEngine, sample_rate: int) -> None:
        from pocketsphinx import Decoder

        if sample_rate != SPHINX_RATE:
            raise ValueError(f"PocketSphinx en-us needs {SPHINX_RATE} Hz audio, got {sample_rate}")
        self.engine = engine.name
        self.sample_rate = sample_rate
        self._dec = Decoder(loglevel="FATAL")
        self._cmn0 = self._dec.get_cmn()  # restored on reset: no adaptation leaks between calls
        self._new_stream()

    def _new_stream(self) -> None:
        from pocketsphinx import Endpointer

        self._ep = Endpointer(sample_rate=self.sample_rate)
        self._buf = b""
        self._in_utt = False
        self._utt_start = 0.0

    def _hyp(self, kind: Kind) -> Hypothesis | None:
        words = []
        for seg in self._dec.seg() or ():
            w = clean_token(seg.word)
            if w is None:
                continue
            words.append(
                Word(
                    w=w,
                    start=round(self._utt_start + seg.start_frame / FRAME_RATE, 3),
                    end=round(self._utt_start + (seg.end_frame + 1) / FRAME_RATE, 3),
                    conf=None,
                )
            )
        if not words:
            hyp = self._dec.hyp()
            text = join_words(
                t for t in (clean_token(x) for x in (hyp.hypstr if hyp else "").split()) if t
            )
            return Hypothesis(kind=kind, text=text) if text else None
        return Hypothesis(kind=kind, text=join_words(w.w for w in words), words=tuple(words))

    def _speech(self, speech: bytes | None) -> list[Hypothesis]:
        if speech is None:
            return []
        if not self._in_utt:
            self._dec.start_utt()
            self._in_utt = True
            self._utt_start = float(self._ep.speech_start)
        self._dec.process_raw(speech, False, False)
        if self._ep.in_speech:
            return []
        return self._end_utt()

    def _end_utt(self) -> list[Hypothesis]:
        self._dec.end_utt()
        self._in_utt = False
        hyp = self._hyp("final")
        return [hyp] if hyp else []

    def accept(self, pcm: bytes) -> list[Hypothesis]:
        self._buf += pcm
        step = self._ep.frame_bytes
        out: list[Hypothesis] = []
        while len(self._buf) >= step:
            frame, self._buf = self._buf[:step], self._buf[step:]
            out += self._speech(self._ep.process(frame))
        return out

    def partial(self) -> Hypothesis | None:
        if not self._in_utt:
            return None
        return self._hyp("partial")

    def flush(self) -> list[Hypothesis]:
        out = self._speech(self._ep.end_stream(self._buf)) if self._buf else []
        self._buf = b""
        if self._in_utt:
            out += self._end_utt()
        return out

    def reset(self) -> None:
        if self._in_utt:
            self._dec.end_utt()
        self._dec.set_cmn(self._cmn0)
        self._new_stream()
