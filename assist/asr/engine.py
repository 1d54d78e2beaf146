"""The speech engine interface every recogniser (Vosk, PocketSphinx) implements.

A `Recognizer` is one streaming decoder for one channel: 16-bit PCM in, hypotheses out. It is
synchronous and knows time only from the samples it was fed: every time in a `Hypothesis` is
seconds of audio since the recogniser's last `reset()`, so the same audio gives the same words
and times however fast it is fed. Threads, queues and the mapping to call time belong to the
adapter (`assist.runtime.asr_worker`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from assist.core.events import Word

Kind = Literal["partial", "final"]


@dataclass(frozen=True, slots=True)
class Hypothesis:
    """One recognition result; `words` carry times when the engine gives them."""

    kind: Kind
    text: str
    words: tuple[Word, ...] = ()

    @property
    def start(self) -> float | None:
        return self.words[0].start if self.words else None

    @property
    def end(self) -> float | None:
        return self.words[-1].end if self.words else None


class Recognizer(Protocol):
    """A streaming decoder for one channel; not thread-safe (one worker thread owns it)."""

    engine: str  # shown to users: "vosk:<model>" or "pocketsphinx:en-us"
    sample_rate: int

    def accept(self, pcm: bytes) -> list[Hypothesis]:
        """Feed 16-bit mono PCM; returns the finals of utterances that ended in it."""
        ...

    def partial(self) -> Hypothesis | None:
        """The current partial hypothesis, or None when nothing is pending."""
        ...

    def flush(self) -> list[Hypothesis]:
        """End of stream: the final of the pending utterance, if any."""
        ...

    def reset(self) -> None:
        """Forget the stream; the next audio starts at time 0. Keeps what was loaded."""
        ...


class Engine(Protocol):
    """A loaded model for one language; makes recognisers that share it."""

    name: str  # "vosk:<model>" / "pocketsphinx:en-us"
    lang: str
    fallback: bool  # True for the embedded default used when no Vosk model is present

    def recognizer(self, sample_rate: int) -> Recognizer: ...
