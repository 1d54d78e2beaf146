"""Speech recognition off the audio path: one worker thread and bounded queue per channel.

`CallAsr` installs itself as a tap of a CallRunner. Each 20 ms frame is queued for that
channel's worker, which feeds its recogniser, polls a partial every `partial_every_s` of audio
and tags every result with the audio position (sample count) at which it was produced.

Results are handed to the session at a fixed audio delay, `align_s` after that position: the
transcript event's `t` is `position + align_s`, in `--fast` and real-time runs alike. Fast
(`block=True`) runs wait for the worker when it is behind; live runs never wait: a result that
misses its slot is delivered as soon as it arrives, and when the worker falls more than
`lag_report_s` behind the audio an `asr_lagging` event says so (and again when it recovers).
A live queue that overflows drops its oldest audio and reports a `dropped` event.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from dataclasses import dataclass

from assist.asr.engine import Engine, Hypothesis, Recognizer
from assist.asr.pool import RecognizerPool
from assist.asr.whisper_engine import WhisperEngine
from assist.core.audio import Samples, to_int16_bytes
from assist.core.events import AsrLagging, Dropped, Error, Event, Speaker, Transcript, Word
from assist.core.session import CallSession
from assist.runtime.runner import CallRunner
from assist.runtime.second_pass import WhisperPass

PARTIAL_EVERY_S = 0.16
ALIGN_S = 0.3
LAG_REPORT_S = 1.0
QUEUE_S = 3.0

POOL = RecognizerPool()
_POOL_LOCK = threading.Lock()


def acquire(engine: Engine, rate: int) -> Recognizer:
    with _POOL_LOCK:
        return POOL.acquire(engine, rate)


def release(rec: Recognizer) -> None:
    with _POOL_LOCK:
        POOL.release(rec)


@dataclass(frozen=True, slots=True)
class Result:
    at: int  # call sample position at which the recogniser produced it
    transcript: Transcript


class _Channel:
    """One speaker's queue, worker thread and recogniser."""

    def __init__(
        self, speaker: Speaker, rec: Recognizer, *, rate: int, partial_every: int, max_frames: int
    ) -> None:
        self.speaker = speaker
        self.rec = rec
        self.rate = rate
        self.partial_every = partial_every
        self.max_frames = max_frames
        self.cond = threading.Condition()
        self.queue: deque[tuple[bytes, int, int]] = deque()  # pcm, start, end (call samples)
        self.results: list[Result] = []
        self.processed = 0
        self.seen = 0  # end sample of the last frame queued
        self.closing = False
        self.error: BaseException | None = None
        self.dropped_total = 0
        self.dropped_unreported = 0
        self.lagging = False
        self._fed = 0  # call samples given to the recogniser
        self._anchors: list[tuple[float, float]] = [(0.0, 0.0)]  # (recogniser s, shift s)
        self._frames = 0
        self._last_partial = ""
        self.thread = threading.Thread(target=self._run, name=f"asr-{speaker}", daemon=True)

    # -- producer (runner thread) --------------------------------------------------------------

    def put(self, pcm: bytes, start: int, end: int, block: bool) -> None:
        with self.cond:
            if block:
                while len(self.queue) >= self.max_frames and self.thread.is_alive():
                    self.cond.wait(0.1)
            elif len(self.queue) >= self.max_frames:
                self.queue.popleft()
                self.dropped_total += 1
                self.dropped_unreported += 1
            self.queue.append((pcm, start, end))
            self.seen = end
            self.cond.notify_all()

    def wait_processed(self, upto: int) -> None:
        with self.cond:
            while self.processed < upto and self.thread.is_alive() and self.error is None:
                self.cond.wait(0.1)

    def take(self, upto: int | None) -> list[Result]:
        with self.cond:
            if upto is None:
                due, self.results = self.results, []
            else:
                due = [r for r in self.results if r.at <= upto]
                self.results = self.results[len(due) :]
            return due

    # -- worker thread -------------------------------------------------------------------------

    def _to_call_time(self, t: float) -> float:
        shift = 0.0
        for at, s in self._anchors:
            if at <= t + 1e-9:
                shift = s
        return round(t + shift, 3)

    def _transcript(self, hyp: Hypothesis) -> Transcript:
        words = tuple(
            Word(w.w, self._to_call_time(w.start), self._to_call_time(w.end), w.conf)
            for w in hyp.words
        )
        return Transcript(
            speaker=self.speaker,
            kind=hyp.kind,
            text=hyp.text,
            words=words,
            start=words[0].start if words else None,
            end=words[-1].end if words else None,
            engine=self.rec.engine,
        )

    def _recognise(self, pcm: bytes, start: int, end: int) -> list[Hypothesis]:
        if start != self._fed + self._shift_samples():  # frames were dropped: keep times true
            shift = (start - self._fed) / self.rate
            self._anchors.append((self._fed / self.rate, shift))
        self._fed += end - start
        hyps = self.rec.accept(pcm)
        self._frames += 1
        if hyps:
            self._last_partial = ""
        elif self._frames % self.partial_every == 0:
            p = self.rec.partial()
            if p is not None and p.text != self._last_partial:
                self._last_partial = p.text
                hyps = [p]
        return hyps

    def _shift_samples(self) -> int:
        return round(self._anchors[-1][1] * self.rate)

    def _run(self) -> None:
        try:
            while True:
                with self.cond:
                    while not self.queue and not self.closing:
                        self.cond.wait()
                    if not self.queue:
                        break
                    pcm, start, end = self.queue.popleft()
                    self.cond.notify_all()
                hyps = self._recognise(pcm, start, end)
                with self.cond:
                    self.results += [Result(end, self._transcript(h)) for h in hyps]
                    self.processed = end
                    self.cond.notify_all()
            finals = self.rec.flush()
            with self.cond:
                self.results += [Result(self.processed, self._transcript(h)) for h in finals]
                self.cond.notify_all()
        except Exception as exc:  # noqa: BLE001 - reported as an error event by CallAsr
            with self.cond:
                self.error = exc
                self.cond.notify_all()


class CallAsr:
    """Recognition for both channels of one call, wired into `runner` as a tap.

    `engine` is the streaming first pass (None: none), `second` the Whisper second pass (see
    `assist.runtime.second_pass`). With a second pass, first-pass results are display-only
    (sent with `cues=False`; finals become partials), and hidden entirely when the first pass
    is the weak embedded fallback (PocketSphinx), whose words on phone audio would only mislead.
    """

    def __init__(
        self,
        runner: CallRunner,
        engine: Engine | None,
        *,
        second: WhisperEngine | None = None,
        block: bool | None = None,
        live_words: bool = False,
        partial_every_s: float = PARTIAL_EVERY_S,
        align_s: float = ALIGN_S,
        lag_report_s: float = LAG_REPORT_S,
        queue_s: float = QUEUE_S,
    ) -> None:
        if partial_every_s <= 0 or align_s < 0 or lag_report_s <= 0 or queue_s <= 0:
            raise ValueError("align_s must be >= 0; partial_every_s, lag_report_s, queue_s > 0")
        self.runner = runner
        self.engine = engine
        self.block = runner.block if block is None else block
        rate = self.rate = runner.session.rate  # recognisers take the session's frames as is
        self.align = round(align_s * rate)
        self.lag_report = round(lag_report_s * rate)
        frame = 0.02
        self.channels: dict[Speaker, _Channel] = {}
        for speaker in ("agent", "customer") if engine is not None else ():
            self.channels[speaker] = _Channel(
                speaker,
                acquire(engine, rate),  # type: ignore[arg-type]
                rate=rate,
                partial_every=max(1, round(partial_every_s / frame)),
                max_frames=max(1, round(queue_s / frame)),
            )
        self.closed = False
        self.second = (
            None
            if second is None
            else WhisperPass(runner, second, block=self.block, live_words=live_words)
        )
        self.hide_first = engine is not None and engine.fallback and second is not None
        self._reported_errors: set[str] = set()
        self._seen = 0
        self._seen_cond = threading.Condition()
        for ch in self.channels.values():
            ch.thread.start()
        runner.taps.append(self.tap)

    def tap(self, speaker: str, frame: Samples, end: int) -> None:
        """Runner-thread hook for every frame: queue it, deliver due results, watch the lag."""
        if self.closed:
            return
        ch = self.channels.get(speaker)  # type: ignore[call-overload]
        if ch is not None:
            if ch.error is None:
                ch.put(to_int16_bytes(frame), end - frame.shape[0], end, self.block)
                if self.block:
                    ch.wait_processed(end - self.align)
            self._deliver(ch, ch.take(end - self.align))
            self._watch(ch, end)
            if self.second is not None:
                self.second.first_progress(speaker, min(ch.processed, end - self.align))
        if self.second is not None:
            self.second.tap(speaker, frame, end)
        with self._seen_cond:
            self._seen = max(self._seen, end) if speaker == "customer" else self._seen
            self._seen_cond.notify_all()

    def _deliver(self, ch: _Channel, due: list[Result]) -> None:
        if due and self.second is not None:
            for r in due:
                if r.transcript.kind == "final":
                    self.second.first_pass(r.transcript)
            due = [] if self.hide_first else [_demoted(r) for r in due]
        if due:
            cues = self.second is None
            self.runner.submit(lambda s, d=due: _add(s, d, cues))  # type: ignore[misc]
        if ch.error is not None and ch.speaker not in self._reported_errors:
            self._reported_errors.add(ch.speaker)
            err = Error(source=f"asr_{ch.speaker}", message=repr(ch.error), recoverable=True)
            self.runner.submit(lambda s: s.note(err))

    def _watch(self, ch: _Channel, end: int) -> None:
        lag = end - ch.processed
        note: AsrLagging | Dropped | None = None
        if not ch.lagging and lag > self.lag_report and ch.error is None:
            ch.lagging = True
            note = AsrLagging(speaker=ch.speaker, lag_s=lag / self.rate)
        elif ch.lagging and lag <= self.lag_report // 2:
            ch.lagging = False
            note = AsrLagging(speaker=ch.speaker, lag_s=lag / self.rate, recovered=True)
        if note is not None:
            self.runner.submit(lambda s, n=note: s.note(n))  # type: ignore[misc]
        with ch.cond:
            dropped, ch.dropped_unreported = ch.dropped_unreported, 0
        if dropped:
            d = Dropped(queue=f"asr_{ch.speaker}", count=dropped, total=ch.dropped_total)
            self.runner.submit(lambda s: s.note(d))

    def close(self, until: int | None = None, timeout: float | None = None) -> None:
        """Finish recognition: wait until the taps saw audio up to `until` (the call's last
        sample), flush the pending utterances, deliver every result, free the recognisers.
        Frames the runner dropped from its full queue never reach the taps: `until` counts
        only what is still to come (it used to wait its whole timeout for them, 30 s at the
        end of a demo on a loaded machine)."""
        if self.closed:
            return
        if until is not None:
            until = min(until, self.runner.queued_end)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._seen_cond:
            while until is not None and self._seen < until and not self.channels:
                if not self.runner.alive or (deadline and time.monotonic() >= deadline):
                    break
                self._seen_cond.wait(0.1)
        for ch in self.channels.values():
            with ch.cond:
                while until is not None and ch.seen < until and ch.error is None:
                    if not self.runner.alive or (deadline and time.monotonic() >= deadline):
                        break
                    ch.cond.wait(0.1)
        self.closed = True
        for ch in self.channels.values():
            with ch.cond:
                ch.closing = True
                ch.cond.notify_all()
        for ch in self.channels.values():
            ch.thread.join(timeout)
            self._deliver(ch, ch.take(None))
            if not ch.thread.is_alive() and ch.error is None:
                release(ch.rec)
            if self.second is not None:
                self.second.first_progress(ch.speaker, 1 << 62)
        if self.second is not None:
            self.second.close()


def _demoted(r: Result) -> Result:
    """A first-pass final shown as a partial: the second pass makes the utterance's final."""
    if r.transcript.kind == "partial":
        return r
    return Result(r.at, dataclasses.replace(r.transcript, kind="partial"))


def _add(session: CallSession, due: list[Result], cues: bool = True) -> list[Event]:
    out: list[Event] = []
    for r in due:
        out += session.add_transcript(r.transcript, cues=cues)
    return out
