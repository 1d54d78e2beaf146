"""The Whisper second pass: each utterance the VAD closes is decoded whole, in one shared pool.

Per call, `WhisperPass` watches both channels on the runner thread with the same VAD as the
session (same config, same frames, so the same utterances). When a speech run stops, or has
run `max_utterance_s`, exactly that audio (plus `preroll_s` before it) goes to the process-wide
`DecodePool`: a fixed set of threads sized to the cores, shared by every call and both
speakers, with a bounded number of pending decodes. Its result becomes the utterance's final
transcript (`asr_pass: 2`).

Time, as for the first pass (`assist.runtime.asr_worker`): the final is handed to the session
when the session's audio reaches the stop's frame + `align_s`, so its `t` is the same in
`--fast` and real-time runs. `--fast` (`block=True`) waits for the decode at that point (and
for a free slot in the pool), so runs are identical. Live never waits: a decode that misses
its slot is delivered when it arrives; when the pool is full the utterance is not decoded, an
`asr_lagging` event (`asr_pass: 2`) says so, and the first pass's words for that utterance
stand as its final (`asr_pass: 1`).
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from assist.asr.engine import Hypothesis
from assist.asr.whisper_engine import WhisperEngine
from assist.core.audio import Samples
from assist.core.events import AsrLagging, Error, Speaker, Transcript, Word
from assist.core.vad import VoiceActivity
from assist.runtime.runner import CallRunner

ALIGN_S = 0.4  # stop detected -> final delivered (a decode takes ~0.4 s on an idle core)
MAX_UTTERANCE_S = 15.0  # a longer speech run is decoded in pieces of this length
PREROLL_S = 0.3  # audio kept before the VAD's (back-dated) start of speech
FIRST_PASS_WAIT_S = 1.5  # an utterance not decoded waits this long for the first pass's final
MAX_FIRST_WORDS = 2000  # first-pass words kept per speaker to stand in for skipped decodes
LAG_REPORT_S = 1.0  # a decode this late after its slot is reported as lagging
PENDING_PER_WORKER = 4  # decodes waiting or running per worker thread before we shed load
# (≈ 0.5 s each: with 2 workers, 8 pending is a 2 s backlog, late but not lost)


def decode_workers() -> int:
    """Decode threads for the whole process: one per core (CTranslate2 releases the GIL;
    measured, more parallel decodes than cores add no throughput)."""
    return max(1, os.cpu_count() or 1)


class DecodePool:
    """A fixed thread pool with a bounded number of decodes in flight (running + queued)."""

    def __init__(self, workers: int, max_pending: int) -> None:
        if workers < 1 or max_pending < workers:
            raise ValueError("workers must be >= 1 and max_pending >= workers")
        self.workers = workers
        self.max_pending = max_pending
        self._slots = threading.BoundedSemaphore(max_pending)
        self._exec = ThreadPoolExecutor(workers, thread_name_prefix="whisper")
        self.submitted = 0
        self.rejected = 0

    def submit(self, fn: Callable[[], Hypothesis | None], *, block: bool) -> Future[Any] | None:
        """Run `fn` on a pool thread; None (nothing queued) when full and not `block`."""
        if not self._slots.acquire(blocking=block):
            self.rejected += 1
            return None
        self.submitted += 1
        fut = self._exec.submit(fn)
        fut.add_done_callback(lambda _f: self._slots.release())
        return fut


_shared: DecodePool | None = None
_shared_lock = threading.Lock()


def shared_pool() -> DecodePool:
    """The one decode pool of this process (made on first use)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            n = decode_workers()
            _shared = DecodePool(n, n * PENDING_PER_WORKER)
        return _shared


@dataclass(slots=True)
class _Job:
    start: int  # call sample of the first sample decoded
    end: int  # call sample after the last one
    due: int  # call sample at which the final is delivered
    future: Future[Any] | None  # None: the pool was full, the first pass stands


@dataclass(slots=True)
class _Track:
    """One speaker: VAD, recent audio, open utterance, decodes in order, first-pass words."""

    vad: VoiceActivity
    frames: deque[tuple[int, Samples]] = field(default_factory=deque)  # (end sample, frame)
    open_start: int | None = None
    jobs: deque[_Job] = field(default_factory=deque)
    first_words: list[Word] = field(default_factory=list)
    first_engine: str = ""
    first_upto: int = 1 << 62  # call sample through which first-pass results were handed over
    lagging: bool = False


class WhisperPass:
    """The second pass of one call: `tap` runs on the runner's thread, `close` on the thread
    that ends the call (after the last frame)."""

    def __init__(
        self,
        runner: CallRunner,
        engine: WhisperEngine,
        *,
        pool: DecodePool | None = None,
        block: bool | None = None,
        align_s: float = ALIGN_S,
        max_utterance_s: float = MAX_UTTERANCE_S,
        preroll_s: float = PREROLL_S,
        lag_report_s: float = LAG_REPORT_S,
    ) -> None:
        if align_s < 0 or max_utterance_s <= 1 or preroll_s < 0 or lag_report_s <= 0:
            raise ValueError("align_s, preroll_s >= 0; max_utterance_s > 1; lag_report_s > 0")
        self.runner = runner
        self.engine = engine
        self.pool = pool or shared_pool()
        self.block = runner.block if block is None else block
        self.rate = rate = runner.session.rate
        self.align = round(align_s * rate)
        self.max_utt = round(max_utterance_s * rate)
        self.preroll = round(preroll_s * rate)
        self.lag_report = round(lag_report_s * rate)
        self.first_wait = round(FIRST_PASS_WAIT_S * rate)
        vads = runner.session.vads
        self.tracks: dict[Speaker, _Track] = {
            s: _Track(VoiceActivity(vads[s].config, sample_rate=rate)) for s in vads
        }
        self.closed = False
        self._lock = threading.Lock()  # tap (runner thread) vs close (the thread ending the call)

    # -- audio ---------------------------------------------------------------------------------

    def tap(self, speaker: str, frame: Samples, end: int) -> None:
        """Every frame: follow the VAD, cut utterances, deliver the finals that are due."""
        tr = self.tracks.get(speaker)  # type: ignore[call-overload]
        if tr is None or self.closed:
            return
        with self._lock:
            if not self.closed:
                self._feed(cast(Speaker, speaker), tr, frame, end)

    def _feed(self, speaker: Speaker, tr: _Track, frame: Samples, end: int) -> None:
        tr.frames.append((end, frame))
        change = tr.vad.feed(frame, end)
        if change is not None and change.started:
            tr.open_start = max(0, change.at_sample - self.preroll)
        elif change is not None and tr.open_start is not None:
            self._cut(speaker, tr, end)
            tr.open_start = None
        elif tr.open_start is not None and end - tr.open_start >= self.max_utt:
            self._cut(speaker, tr, end)
            tr.open_start = end
        keep_from = (tr.open_start if tr.open_start is not None else end) - self.preroll
        while tr.frames and tr.frames[0][0] <= keep_from:
            tr.frames.popleft()
        self._deliver(speaker, tr, end)

    def first_pass(self, transcript: Transcript) -> None:
        """Words of a first-pass final, kept to stand in for an utterance not decoded."""
        tr = self.tracks.get(transcript.speaker)
        if tr is not None:
            tr.first_engine = transcript.engine
            tr.first_words += transcript.words
            del tr.first_words[:-MAX_FIRST_WORDS]  # bounded, whatever the VAD does

    def first_progress(self, speaker: str, upto: int) -> None:
        """The first pass has handed over its results through call sample `upto`."""
        tr = self.tracks.get(speaker)  # type: ignore[call-overload]
        if tr is not None:
            tr.first_upto = upto

    def _cut(self, speaker: Speaker, tr: _Track, end: int) -> None:
        start = tr.open_start if tr.open_start is not None else end
        audio = self._audio(tr, start, end)
        offset = start / self.rate
        engine = self.engine
        fut = self.pool.submit(lambda: engine.decode(audio, offset_s=offset), block=self.block)
        if fut is None and not tr.lagging:
            tr.lagging = True
            note = AsrLagging(speaker=speaker, lag_s=(end - start) / self.rate, asr_pass=2)
            self.runner.submit(lambda s, n=note: s.note(n))  # type: ignore[misc]
        # not decoded: wait for the first pass's own endpointer (≈ 1 s after the speech) too
        due = end + (self.align if fut is not None else max(self.align, self.first_wait))
        tr.jobs.append(_Job(start, end, due, fut))

    def _audio(self, tr: _Track, start: int, end: int) -> np.ndarray:
        parts = [f for e, f in tr.frames if e > start and e - f.shape[0] < end]
        if not parts:
            return np.zeros(0, np.float32)
        first_start = next(e - f.shape[0] for e, f in tr.frames if e > start)
        x = np.concatenate(parts)
        return x[max(0, start - first_start) : max(0, start - first_start) + end - start]

    # -- results -------------------------------------------------------------------------------

    def _deliver(self, speaker: Speaker, tr: _Track, now: int | None) -> None:
        """Hand over, in order, the finals that are due (`now` None: all, waiting for each)."""
        while tr.jobs:
            job = tr.jobs[0]
            if now is not None and job.due > now:
                return
            if now is not None and job.future is None and tr.first_upto < job.due - self.align:
                return  # not decoded, and the first pass has not caught up to it yet
            if job.future is not None and not job.future.done():
                if now is not None and not self.block:
                    if now - job.due > self.lag_report and not tr.lagging:
                        tr.lagging = True
                        note = AsrLagging(
                            speaker=speaker, lag_s=(now - job.due) / self.rate, asr_pass=2
                        )
                        self.runner.submit(lambda s, n=note: s.note(n))  # type: ignore[misc]
                    return
                try:
                    job.future.exception(timeout=None if now is not None else CLOSE_WAIT_S)
                except TimeoutError:
                    pass
            tr.jobs.popleft()
            self._final(speaker, tr, job, now)

    def _final(self, speaker: Speaker, tr: _Track, job: _Job, now: int | None) -> None:
        hyp: Hypothesis | None = None
        asr_pass, engine = 2, self.engine.name
        fut = job.future
        if fut is not None and fut.done() and fut.exception() is not None:
            err = Error(source=f"whisper_{speaker}", message=repr(fut.exception()))
            self.runner.submit(lambda s: s.note(err))
            fut = None
        if fut is not None and fut.done():
            hyp = fut.result()
            if tr.lagging and now is not None and now - job.due <= self.lag_report // 2:
                tr.lagging = False
                note = AsrLagging(
                    speaker=speaker,
                    lag_s=max(0, now - job.due) / self.rate,
                    recovered=True,
                    asr_pass=2,
                )
                self.runner.submit(lambda s, n=note: s.note(n))  # type: ignore[misc]
        else:  # not decoded (pool full, error, timeout at close): the first pass stands
            hyp = self._first_pass_final(tr, job)
            asr_pass, engine = 1, tr.first_engine
        self._drop_first_words(tr, job.end)
        if hyp is None:
            return
        words = hyp.words
        t = Transcript(
            speaker=speaker,
            kind="final",
            text=hyp.text,
            words=words,
            start=words[0].start if words else job.start / self.rate,
            end=words[-1].end if words else job.end / self.rate,
            engine=engine,
            asr_pass=asr_pass,
        )
        self.runner.submit(lambda s: s.add_transcript(t))

    def _first_pass_final(self, tr: _Track, job: _Job) -> Hypothesis | None:
        lo, hi = job.start / self.rate, job.end / self.rate
        words = tuple(w for w in tr.first_words if lo <= (w.start + w.end) / 2 < hi)
        if not words:
            return None
        return Hypothesis(kind="final", text=" ".join(w.w for w in words), words=words)

    def _drop_first_words(self, tr: _Track, upto: int) -> None:
        t = upto / self.rate
        tr.first_words = [w for w in tr.first_words if (w.start + w.end) / 2 >= t]

    def close(self) -> None:
        """End of call: decode the utterances still open, deliver every final in order."""
        with self._lock:
            if self.closed:
                return
            for speaker, tr in self.tracks.items():
                if tr.open_start is not None and tr.frames:
                    self._cut(speaker, tr, tr.frames[-1][0])
                    tr.open_start = None
            self.closed = True
        for speaker, tr in self.tracks.items():
            self._deliver(speaker, tr, None)


CLOSE_WAIT_S = 30.0  # at the end of a call, how long one decode may still take
