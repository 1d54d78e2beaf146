"""CallSession: the sans-I/O analysis of one call. 20 ms frames in, typed events out.

    session = CallSession("call-1", pack=default_pack("en"))
    events = session.start()
    for agent, customer in frame_pairs:          # FRAME_SAMPLES float32 each, ANALYSIS_RATE
        events += session.feed(agent, customer)
    events += session.add_transcript(transcript)  # from an ASR worker, any time
    events += session.end()

Time is the number of samples fed, so the same audio always gives the same events, whatever
the wall clock does. The session assigns `seq`; events from outside the core (ASR results,
feedback, queue drops, SIP state) enter through its methods so one call has one sequence.
"""

from __future__ import annotations

from typing import cast

from assist.core.audio import ANALYSIS_RATE, FRAME_SAMPLES, Samples
from assist.core.checklist import Tracker
from assist.core.context import Context
from assist.core.conversation import Conversation
from assist.core.events import (
    SPEAKERS,
    CallEnded,
    CallStarted,
    CallState,
    Checklist,
    Event,
    EventData,
    Feedback,
    Meters,
    Recording,
    Speaker,
    SpeakerMeters,
    Speech,
    Transcript,
    Verdict,
)
from assist.core.numbers import load_chinese
from assist.core.pack import RulePack
from assist.core.prosody import SpeakerProsody
from assist.core.rules import RuleEngine
from assist.core.vad import VadConfig, VoiceActivity

METERS_INTERVAL_S = 0.5
# what the call-shape checklist follows (assist.core.checklist)
_CHECKLIST_FEEDS = frozenset({"call_state", "prompt", "meters", "transcript", "hangup"})


class CallSession:
    def __init__(
        self,
        call_id: str,
        *,
        pack: RulePack,
        sample_rate: int = ANALYSIS_RATE,
        source: str = "demo",
        agent: str = "",
        remote: str = "",
        asr: str = "",
        vad: VadConfig | None = None,
        meters_interval_s: float = METERS_INTERVAL_S,
    ) -> None:
        if sample_rate != ANALYSIS_RATE:
            raise ValueError(f"CallSession analyses {ANALYSIS_RATE} Hz audio, got {sample_rate}")
        if pack.lang == "zh":
            load_chinese()  # here, not at the first number or phrase on the frame thread
        self.call_id = call_id
        self.pack = pack
        self.rate = sample_rate
        self.source = source
        self.agent = agent
        self.remote = remote
        self.asr = asr  # speech engine label for call_started ("" = no word cues)
        self.vads: dict[Speaker, VoiceActivity] = {
            s: VoiceActivity(vad, sample_rate=sample_rate) for s in SPEAKERS
        }
        self.conv = Conversation(self.vads["agent"], self.vads["customer"], sample_rate=sample_rate)
        self.prosody: dict[Speaker, SpeakerProsody] = {
            s: SpeakerProsody(sample_rate=sample_rate, lang=pack.lang) for s in SPEAKERS
        }
        self.engine = RuleEngine(pack)
        self.samples = 0
        self.seq = 0
        self.started = False
        self.ended = False
        self.prompts = 0
        self.answered_at: float | None = None  # audio time of the first `confirmed` call state
        self.paused = False  # a recording client paused the recording (a `recording` event)
        self._meters_every = max(1, round(meters_interval_s * sample_rate / FRAME_SAMPLES))
        self._frames = 0
        self._levels: dict[Speaker, float] = {s: -120.0 for s in SPEAKERS}
        self._finals: list[Transcript] = []
        self.checklist = Tracker(pack)

    # -- time ----------------------------------------------------------------------------------

    @property
    def t(self) -> float:
        """Audio time fed so far, in seconds."""
        return self.samples / self.rate

    def _emit(self, data: EventData, out: list[Event]) -> None:
        out.append(Event(self.call_id, self.seq, self.t, data))
        self.seq += 1
        if data.type == "prompt":
            self.prompts += 1

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> list[Event]:
        if self.started:
            raise RuntimeError("session already started")
        self.started = True
        out: list[Event] = []
        self._emit(
            CallStarted(
                lang=self.pack.lang,
                source=self.source,
                sample_rate=self.rate,
                agent=self.agent,
                remote=self.remote,
                rules=f"{self.pack.name} v{self.pack.version}",
                asr=self.asr,
            ),
            out,
        )
        self._emit(self._checklist_event(), out)
        return out

    def _checklist_event(self) -> Checklist:
        items = tuple(i.to_event() for i in self.checklist.snapshot())
        return Checklist(items=items, score=self.checklist.score, final=self.checklist.ended)

    def _feed_checklist(self, out: list[Event]) -> bool:
        changed = False
        for e in out:
            if e.type not in _CHECKLIST_FEEDS:
                continue
            if isinstance(e.data, Transcript) and e.data.kind != "final":
                continue
            changed |= bool(self.checklist.feed(e.to_dict()))
        return changed

    def _track(self, out: list[Event]) -> list[Event]:
        """Feed this batch's events to the checklist; one `checklist` event if an item changed
        (a batch at a time: a final and the prompt it raised never show as yes, then no)."""
        if self._feed_checklist(out):
            self._emit(self._checklist_event(), out)
        return out

    def end(self, reason: str = "completed") -> list[Event]:
        if self.ended:
            return []
        self.ended = True
        out: list[Event] = []
        for speaker in SPEAKERS:  # close open speech runs so the record is complete
            vad = self.vads[speaker]
            if vad.speaking:
                at = self.samples
                self.conv.speech_stopped(speaker, at)
                self._emit(Speech(speaker=speaker, state="stop", at=at / self.rate), out)
        for ev in self.engine.close():
            self._emit(ev, out)
        self._feed_checklist(out)
        self.checklist.feed({"type": "call_ended", "t": self.t})
        self._emit(self._checklist_event(), out)  # the final verdicts, before call_ended
        talk = None if self.answered_at is None else round(self.t - self.answered_at, 3)
        self._emit(
            CallEnded(duration_s=self.t, reason=reason, prompts=self.prompts, talk_s=talk), out
        )
        return out

    # -- audio ---------------------------------------------------------------------------------

    def feed(self, agent: Samples, customer: Samples) -> list[Event]:
        """Analyse one 20 ms frame per channel (FRAME_SAMPLES float32 samples each)."""
        if not self.started or self.ended:
            raise RuntimeError("feed() outside start()..end()")
        if agent.shape != (FRAME_SAMPLES,) or customer.shape != (FRAME_SAMPLES,):
            raise ValueError(f"frames must be {FRAME_SAMPLES} samples per channel")
        out: list[Event] = []
        self.samples += FRAME_SAMPLES
        end = self.samples
        pairs: tuple[tuple[Speaker, Samples], ...] = (("agent", agent), ("customer", customer))
        for speaker, frame in pairs:
            vad = self.vads[speaker]
            change = vad.feed(frame, end)
            if vad.voiced:
                self._levels[speaker] = vad.level_dbfs
            self.prosody[speaker].feed(
                frame,
                end,
                speaking=vad.speaking,
                voiced=vad.voiced,
                level_dbfs=float(vad.level_dbfs),
                noise_dbfs=float(vad.floor_dbfs),
            )
            if change is None:
                continue
            at = change.at_sample
            if change.started:
                self.conv.speech_started(speaker, at)
                self._emit(Speech(speaker=speaker, state="start", at=at / self.rate), out)
            else:
                run = self.conv.speakers[speaker].run_start
                self.conv.speech_stopped(speaker, at)
                dur = None if run is None else (at - run) / self.rate
                self._emit(
                    Speech(speaker=speaker, state="stop", at=at / self.rate, duration_s=dur), out
                )
        self.conv.update(end)
        if self.paused:  # the pause is nobody's silence: it counts from the resume
            self.conv.quiet_from = end
        self._evaluate([], out)
        self._frames += 1
        if self._frames % self._meters_every == 0:
            self._emit(self.meters(), out)
        return self._track(out)

    def _evaluate(self, new: list[Transcript], out: list[Event]) -> None:
        ctx = Context(
            now=self.t,
            conv=self.conv,
            new_transcripts=new,
            finals=self._finals,
            features=self.prosody,
        )
        for ev in self.engine.evaluate(ctx):
            self._emit(ev, out)

    def meters(self) -> Meters:
        conv = self.conv

        def one(s: Speaker) -> SpeakerMeters:
            st = conv.speakers[s]
            return SpeakerMeters(
                speaking=st.speaking,
                talk_share=round(conv.talk_share(s), 3),
                level_dbfs=round(self._levels[s], 1),
                noise_dbfs=round(float(self.vads[s].floor_dbfs), 1),
                run_s=round(conv.run_s(s), 2),
                pace_wpm=_round(self.prosody[s].wpm(), 0),
                pitch_hz=_round(self.prosody[s].pitch_hz, 0),
            )

        return Meters(
            agent=one("agent"),
            customer=one("customer"),
            silence_s=round(conv.silence_s, 2),
            last_speaker=conv.last_speaker,
            overlap_s=round(conv.overlap_s, 2),
            mood=self.prosody["customer"].mood,
        )

    # -- events from outside the core ----------------------------------------------------------

    def add_transcript(self, transcript: Transcript, *, cues: bool = True) -> list[Event]:
        """Record an ASR result (partial or final) and run the word cues on it; `cues=False`
        shows it without evaluating it (a first pass that a second pass will replace)."""
        out: list[Event] = []
        self._emit(transcript, out)
        if not cues:
            return out
        if transcript.kind == "final":
            self._finals.append(transcript)
        self._evaluate([transcript], out)
        return self._track(out)

    def feedback(self, prompt_id: str, verdict: str, client: str = "") -> list[Event]:
        """The agent marked a prompt; `done` also clears it from the overlay. Feedback on a
        prompt this call never raised is ignored (no event): a page cannot invent prompts."""
        if verdict not in ("done", "not_helpful"):
            raise ValueError(f"unknown verdict {verdict!r}")
        rule = self.engine.rule_of(prompt_id)
        out: list[Event] = []
        if rule is None:
            return out
        fb = Feedback(prompt_id=prompt_id, rule=rule, verdict=cast(Verdict, verdict), client=client)
        self._emit(fb, out)
        cleared = self.engine.acknowledge(prompt_id)
        if cleared is not None:
            self._emit(cleared, out)
        return out

    def note(self, data: EventData) -> list[Event]:
        """Stamp an adapter's event (drops, ASR lag, errors, SIP state) into this call's stream.
        The first `confirmed` call state marks the answer: talk time counts from there; a
        `recording` event says whether the recording is paused (no silence counted then)."""
        if isinstance(data, CallState) and data.state == "confirmed" and self.answered_at is None:
            self.answered_at = self.t
        if isinstance(data, Recording):
            self.paused = data.paused
        out: list[Event] = []
        self._emit(data, out)
        return self._track(out)


def _round(x: float | None, digits: int) -> float | None:
    return None if x is None else round(float(x), digits)
