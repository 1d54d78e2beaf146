"""The Whisper second pass: each utterance the VAD closes is decoded whole, in one shared pool.

Per call, `WhisperPass` watches both channels on the runner thread with the same VAD as the
session (same config, same frames, so the same utterances). An utterance's audio is from the
VAD's (back-dated) start, less `preroll_s`, to its last voiced frame plus `tail_s`; a speech
run longer than `max_utterance_s` is decoded in pieces of that length. The decodes run in the
process-wide `DecodePool`: a fixed set of threads sized to the cores, shared by every call and
both speakers, with a bounded number of pending decodes. Its result becomes the utterance's
final transcript (`asr_pass: 2`).

Speculation: the VAD only calls an utterance over after its hangover (0.4 s of quiet), and a
decode takes 0.15-0.3 s, so waiting for the VAD puts a final ~0.6-0.7 s after the speech.
Instead, once `tail_s` of quiet follows the speech and a pool thread is idle (and the machine
is not already busy), the decode of that same audio starts at once; if the speaker goes on
within the hangover, the guess is dropped (it only ever used spare CPU). When the pool or the
machine is busy, nothing is guessed and the decode starts when the VAD closes the utterance.
Either way the audio decoded is the same, so the words are too.

Live words (`live_words=True`, real time only, off by default): while an utterance is open,
it is decoded again every `live_every_s` on an idle pool thread of a machine with CPU to spare
(as a guess is); the words two successive decodes begin with alike are sent as a partial
(`asr_pass: 2`), so word cues can fire before a long utterance ends (local agreement, as in
whisper_streaming). Finals are unchanged. Off in `--fast` runs, whose events must replay.

Time, as for the first pass (`assist.runtime.asr_worker`): the final is handed to the session
when the session's audio reaches the utterance's last voiced frame + `align_s` (and never
before the VAD has closed it), so its `t` is the same in `--fast` and real-time runs. `--fast`
(`block=True`) waits for the decode at that point (and for a free slot in the pool), so runs
are identical. Live never waits: a decode that misses its slot is delivered when it arrives;
when the pool is full the utterance is not decoded, an `asr_lagging` event (`asr_pass: 2`)
says so, and the first pass's words for that utterance stand as its final (`asr_pass: 1`).
`--fast` never waits for ever either: a decode (or a free slot) that takes DECODE_WAIT_S is
given up, an `error` event says so, and the rest of the call goes on with the first pass alone.
"""

from __future__ import annotations

import atexit
import os
import queue
import re
import sys
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from assist.asr.engine import Hypothesis
from assist.asr.whisper_engine import WhisperEngine
from assist.core.audio import Samples
from assist.core.events import AsrLagging, Error, Speaker, Transcript, Word
from assist.core.vad import VoiceActivity
from assist.runtime.runner import CallRunner

ALIGN_S = 0.45  # last voiced frame -> final delivered (a decode of a 2-8 s utterance takes
# ~0.15-0.3 s on an idle core now that the encoder sees the utterance, not 30 s; started
# TAIL_S after the speech when speculating; it was 0.7 when a decode took ~0.5 s)
TAIL_S = 0.1  # quiet after the last voiced frame that is decoded with it, and that must pass
# before a speculative decode starts (a shorter gap is between words, not after an utterance)
MAX_UTTERANCE_S = 15.0  # a longer speech run is decoded in pieces of this length
PREROLL_S = 0.3  # audio kept before the VAD's (back-dated) start of speech
FIRST_PASS_WAIT_S = 1.5  # an utterance not decoded waits this long for the first pass's final
MAX_FIRST_WORDS = 2000  # first-pass words kept per speaker to stand in for skipped decodes
LAG_REPORT_S = 1.0  # a decode this late after its slot is reported as lagging
DECODE_WAIT_S = 30.0  # --fast: a decode, or a free slot for one, that takes longer is hung
LIVE_EVERY_S = 1.0  # live words: the open utterance decoded again this often (spare CPU only)
PENDING_PER_WORKER = 8  # decodes waiting or running per worker thread before we shed load
# (≈ 0.2 s each: with 2 workers, 16 pending is a ~2 s backlog, late but not lost)


def decode_workers() -> int:
    """Decode threads for the whole process: one per core (CTranslate2 releases the GIL;
    measured, more parallel decodes than cores add no throughput)."""
    return max(1, os.cpu_count() or 1)


def machine_busy() -> bool:
    """True when the machine already has a runnable task per core (1-minute load average):
    then a speculative decode would take CPU from something that needs it."""
    try:
        return os.getloadavg()[0] >= (os.cpu_count() or 1)
    except OSError:  # no load average on this platform: judge by the pool alone
        return False


class DecodePool:
    """A fixed thread pool with a bounded number of decodes in flight (running + queued).
    `busy` says whether the machine has CPU to spare for guesses (default: `machine_busy`).

    Its threads are daemon threads, not a ThreadPoolExecutor's: at interpreter exit
    concurrent.futures joins every executor thread with no time limit, so one decode wedged
    in native code (the --fast runs give it up after DECODE_WAIT_S, a live call at once)
    kept the process from exiting after a fatal error or Ctrl-C, for ever. A decode still
    running at exit is abandoned (its result had nowhere to go) and `abandon_at_exit` says
    so in one line."""

    def __init__(
        self, workers: int, max_pending: int, *, busy: Callable[[], bool] = machine_busy
    ) -> None:
        if workers < 1 or max_pending < workers:
            raise ValueError("workers must be >= 1 and max_pending >= workers")
        self.workers = workers
        self.max_pending = max_pending
        self.busy = busy
        self._slots = threading.BoundedSemaphore(max_pending)
        # bounded by the semaphore (max_pending); None tells a worker to end (`close`)
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self.in_flight = 0  # running + queued
        self.submitted = 0
        self.rejected = 0
        self._threads = [
            threading.Thread(target=self._work, name=f"whisper-{i}", daemon=True)
            for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            fut, fn = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                result = fn()
            except BaseException as exc:  # noqa: BLE001 - handed to the future's owner
                fut.set_exception(exc)
            else:
                fut.set_result(result)
            del item, fut, fn  # not held while waiting for the next one

    def close(self) -> None:
        """End the threads once the decodes queued are done (never waits for them)."""
        for _ in self._threads:
            self._queue.put(None)

    def abandon_at_exit(self) -> None:
        """At interpreter exit: one line if decodes are still running (they are left)."""
        with self._lock:
            left = self.in_flight
        if left:
            print(
                f"assist: {left} Whisper decode(s) still running at exit: abandoned",
                file=sys.stderr,
                flush=True,
            )

    def submit(
        self, fn: Callable[[], Hypothesis | None], *, block: bool, timeout: float | None = None
    ) -> Future[Any] | None:
        """Run `fn` on a pool thread; None (nothing queued) when full and not `block`, or when
        no slot came free within `timeout`."""
        got = self._slots.acquire(timeout=timeout) if block else self._slots.acquire(False)
        if not got:
            with self._lock:
                self.rejected += 1
            return None
        with self._lock:
            self.submitted += 1
            self.in_flight += 1
        fut: Future[Any] = Future()
        fut.add_done_callback(self._done)
        self._queue.put((fut, fn))
        return fut

    def submit_if_idle(self, fn: Callable[[], Hypothesis | None]) -> Future[Any] | None:
        """Run `fn` only if a pool thread is free right now and the machine is not busy (a
        guess must never queue, nor take CPU that calls need)."""
        with self._lock:
            if self.in_flight >= self.workers:
                return None
        if self.busy():
            return None
        return self.submit(fn, block=False)

    def _done(self, _fut: Future[Any]) -> None:
        with self._lock:
            self.in_flight -= 1
        self._slots.release()


_shared: DecodePool | None = None
_shared_lock = threading.Lock()


def shared_pool() -> DecodePool:
    """The one decode pool of this process (made on first use)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            n = decode_workers()
            _shared = DecodePool(n, n * PENDING_PER_WORKER)
            atexit.register(_shared.abandon_at_exit)
        return _shared


@dataclass(slots=True)
class _Job:
    start: int  # call sample of the first sample decoded
    end: int  # call sample after the last one
    due: int  # call sample at which the final is delivered
    future: Future[Any] | None  # None: the pool was full, the first pass stands


@dataclass(slots=True)
class _Guess:
    """A speculative decode of the open utterance, as if it ended at `voiced`."""

    start: int
    voiced: int  # the last voiced frame's end sample it assumed
    future: Future[Any]


@dataclass(slots=True)
class _Live:
    """Live words of the open utterance (local agreement): the decode running, the previous
    decode's words (normalised), how many words are shown, when the next decode may start."""

    future: Future[Any] | None = None
    last: tuple[str, ...] = ()
    shown: int = 0
    next_at: int = 0


def _norm(word: str) -> str:
    return re.sub(r"\W+", "", word.lower())


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
    guess: _Guess | None = None
    live: _Live = field(default_factory=_Live)


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
        tail_s: float = TAIL_S,
        speculate: bool = True,
        live_words: bool = False,
        live_every_s: float = LIVE_EVERY_S,
    ) -> None:
        if align_s < 0 or max_utterance_s <= 1 or preroll_s < 0 or lag_report_s <= 0:
            raise ValueError("align_s, preroll_s >= 0; max_utterance_s > 1; lag_report_s > 0")
        if tail_s < 0 or live_every_s <= 0:
            raise ValueError("tail_s must be >= 0 and live_every_s > 0")
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
        self.tail = round(tail_s * rate)
        self.speculate = speculate
        self.guesses = 0  # speculative decodes started
        self.guesses_used = 0  # ... whose utterance did end there
        # live words (real time only): re-decode the open utterance every `live_every_s` on
        # spare CPU; words two successive decodes agree on are sent as partials
        self.live_words = live_words
        self.live_every = round(live_every_s * rate)
        self.live_decodes = 0
        vads = runner.session.vads
        self.tracks: dict[Speaker, _Track] = {
            s: _Track(VoiceActivity(vads[s].config, sample_rate=rate)) for s in vads
        }
        self.closed = False
        self.gave_up = False  # a decode hung (--fast): the first pass stands for the rest
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
            self._cut(speaker, tr, min(end, change.at_sample + self.tail), voiced=change.at_sample)
            tr.open_start = None
        elif tr.open_start is not None and end - tr.open_start >= self.max_utt:
            self._drop_guess(tr)
            self._cut(speaker, tr, end)
            tr.open_start = end
        elif tr.open_start is not None:
            self._maybe_guess(tr, end)
        if self.live_words and not self.block:
            self._live(speaker, tr, end)
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

    def _maybe_guess(self, tr: _Track, end: int) -> None:
        """Speech paused: guess that the utterance ended, if an idle pool thread can check."""
        voiced = tr.vad.voiced_until
        if tr.vad.voiced or (tr.guess is not None and tr.guess.voiced != voiced):
            self._drop_guess(tr)  # the speaker went on: that was a pause, not the end
        if (
            not self.speculate
            or self.gave_up
            or tr.guess is not None
            or tr.vad.voiced
            or tr.open_start is None
            or end - voiced < self.tail
        ):
            return
        start, stop = tr.open_start, voiced + self.tail
        fut = self.pool.submit_if_idle(self._decoder(self._audio(tr, start, stop), start))
        if fut is not None:
            tr.guess = _Guess(start, voiced, fut)
            self.guesses += 1

    def _live(self, speaker: Speaker, tr: _Track, end: int) -> None:
        """Live words: take a finished re-decode of the open utterance, start the next one
        (only on an idle pool thread of a machine with CPU to spare, like a guess)."""
        lv = tr.live
        if lv.future is not None and lv.future.done():
            fut, lv.future = lv.future, None
            if not fut.cancelled() and fut.exception() is None:
                self._agree(speaker, lv, fut.result())
        if (
            lv.future is None
            and tr.open_start is not None
            and tr.vad.voiced
            and end >= max(lv.next_at, tr.open_start + self.live_every)
        ):
            lv.next_at = end + self.live_every
            audio = self._audio(tr, tr.open_start, end)
            lv.future = self.pool.submit_if_idle(self._decoder(audio, tr.open_start))
            self.live_decodes += lv.future is not None

    def _agree(self, speaker: Speaker, lv: _Live, hyp: Hypothesis | None) -> None:
        """Local agreement: the words this decode and the previous one both begin with are
        sent as a partial when they say more than what is shown (word cues act on it)."""
        words = hyp.words if hyp is not None else ()
        norm = tuple(_norm(w.w) for w in words)
        k = 0
        while k < min(len(norm), len(lv.last)) and norm[k] == lv.last[k]:
            k += 1
        lv.last = norm
        if k <= lv.shown:
            return
        lv.shown = k
        agreed = words[:k]
        t = Transcript(
            speaker=speaker,
            kind="partial",
            text=" ".join(w.w for w in agreed),
            words=agreed,
            start=agreed[0].start,
            end=agreed[-1].end,
            engine=self.engine.name,
            asr_pass=2,
        )
        self.runner.submit(lambda s: s.add_transcript(t))

    def _drop_live(self, tr: _Track) -> None:
        if tr.live.future is not None:
            tr.live.future.cancel()
        tr.live = _Live()

    def _drop_guess(self, tr: _Track) -> None:
        if tr.guess is not None:
            tr.guess.future.cancel()  # frees its slot if it had not started; else it runs out
            tr.guess = None

    def _decoder(self, audio: np.ndarray, start: int) -> Callable[[], Hypothesis | None]:
        engine, offset = self.engine, start / self.rate
        return lambda: engine.decode(audio, offset_s=offset)

    def _cut(self, speaker: Speaker, tr: _Track, end: int, *, voiced: int | None = None) -> None:
        """Decode [open start, end): a closed utterance (`voiced`: its last voiced frame's
        end), a piece of a long one, or what is open at the end of the call."""
        start = tr.open_start if tr.open_start is not None else end
        self._drop_live(tr)  # the utterance (or this piece of it) is over: its final follows
        guess, tr.guess = tr.guess, None
        fut: Future[Any] | None
        if guess is not None and (guess.start, guess.voiced) == (start, voiced):
            fut = guess.future  # the guess was right: its decode is this one
            self.guesses_used += 1
        else:
            if guess is not None:
                guess.future.cancel()
            fut = None
            if not self.gave_up:
                fut = self.pool.submit(
                    self._decoder(self._audio(tr, start, end), start),
                    block=self.block,
                    timeout=DECODE_WAIT_S,
                )
                if fut is None and self.block:
                    self._give_up(
                        speaker, f"no free Whisper decode slot within {DECODE_WAIT_S:.0f} s"
                    )
        if fut is None and not tr.lagging and not self.gave_up:
            tr.lagging = True
            note = AsrLagging(speaker=speaker, lag_s=(end - start) / self.rate, asr_pass=2)
            self.runner.submit(lambda s, n=note: s.note(n))  # type: ignore[misc]
        # delivered `align` after the speech (never before now: the VAD has only just closed
        # it); not decoded: wait for the first pass's own endpointer (≈ 1 s after the speech)
        now = tr.frames[-1][0] if tr.frames else end
        base = voiced if voiced is not None else end
        due = max(now, base + (self.align if fut is not None else max(self.align, self.first_wait)))
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
            if now is not None and job.future is None and tr.first_upto < job.end:
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
                wait = 0.0 if self.gave_up else DECODE_WAIT_S if now is not None else CLOSE_WAIT_S
                try:
                    job.future.exception(timeout=wait)
                except TimeoutError:
                    if now is not None:  # hung: from now on, as if it had never been decoded
                        self._give_up(speaker, f"a Whisper decode took over {wait:.0f} s")
                        job.future = None
                        first = job.end - self.tail + max(self.align, self.first_wait)
                        job.due = max(job.due, first)
                        continue
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

    def _give_up(self, speaker: Speaker, why: str) -> None:
        """A decode hung: say so once, and stop waiting on Whisper for this call."""
        if self.gave_up:
            return
        self.gave_up = True
        message = f"{why}; Whisper finals are off for the rest of the call (first pass stands)"
        err = Error(source=f"whisper_{speaker}", message=message, recoverable=True)
        self.runner.submit(lambda s: s.note(err))

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
                self._drop_guess(tr)
            self.closed = True
        for speaker, tr in self.tracks.items():
            self._deliver(speaker, tr, None)


CLOSE_WAIT_S = 30.0  # at the end of a call, how long one decode may still take
