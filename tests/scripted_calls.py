"""Calls told as scripted event streams, published straight into a live OverlayServer.

For page tests that need exact content (a drop notice, a lagging recogniser, fifty calls on
the console). The analysis pipeline itself is exercised by tests/overlay_calls.py; these
events have the same schema (v1).
"""

from __future__ import annotations

from typing import Any

from assist.core.events import (
    AsrLagging,
    CallEnded,
    CallStarted,
    Dropped,
    Event,
    EventData,
    Meters,
    Prompt,
    PromptCleared,
    SpeakerMeters,
    Transcript,
)
from assist.runtime.packs import default_pack
from overlay.server import OverlayServer


class ScriptedCall:
    """One call whose events a test publishes in order, with audio times it chooses."""

    def __init__(
        self,
        server: OverlayServer,
        call_id: str,
        *,
        lang: str = "en",
        agent: str = "demo-agent",
        asr: str = "",
        source: str = "demo",
    ) -> None:
        self.server, self.call_id, self.lang, self.seq = server, call_id, lang, 0
        self.pack = default_pack(lang)
        self.count = 0
        self.send(
            0.0, CallStarted(lang=lang, source=source, sample_rate=16000, agent=agent, asr=asr)
        )

    def send(self, t: float, data: EventData) -> Event:
        self.seq += 1
        ev = Event(self.call_id, self.seq, t, data)
        self.server.publish(ev)
        return ev

    def prompt(self, t: float, rule: str, **values: Any) -> str:
        """Raise the pack's prompt for `rule` (its text, title, severity, min_show_s)."""
        r = self.pack.rule(rule)
        self.count += 1
        pid = f"{rule}-{self.count}"
        text = r.text.format(**{**r.params, **values}) if "{" in r.text else r.text
        self.send(
            t,
            Prompt(
                prompt_id=pid,
                rule=rule,
                text=text,
                severity=r.severity,
                priority=r.priority,
                evidence=dict(values),
                title=r.title,
                min_show_s=self.pack.min_show_s,
            ),
        )
        return pid

    def clear(self, t: float, pid: str, reason: str = "condition_ended") -> None:
        self.send(t, PromptCleared(prompt_id=pid, rule=pid.rsplit("-", 1)[0], reason=reason))

    def say(self, t: float, speaker: str, text: str) -> None:
        self.send(t, Transcript(speaker=speaker, kind="final", text=text, start=t))  # type: ignore[arg-type]

    def meters(
        self,
        t: float,
        *,
        share: float = 0.5,
        silence: float = 0.0,
        wpm: float | None = 150.0,
        mood: str | None = "calm",
        levels: tuple[float, float] = (-22.0, -25.0),
    ) -> None:
        agent = SpeakerMeters(
            speaking=True, talk_share=share, level_dbfs=levels[0], noise_dbfs=-60, pace_wpm=wpm
        )
        cust = SpeakerMeters(
            speaking=False, talk_share=1 - share, level_dbfs=levels[1], noise_dbfs=-58
        )
        self.send(t, Meters(agent=agent, customer=cust, silence_s=silence, mood=mood))

    def drop(self, t: float, count: int) -> None:
        self.send(t, Dropped(queue="audio", count=count, total=count))

    def lag(self, t: float, lag_s: float, *, recovered: bool = False) -> None:
        self.send(t, AsrLagging(speaker="customer", lag_s=lag_s, recovered=recovered))

    def end(self, t: float) -> None:
        self.send(t, CallEnded(duration_s=t, prompts=self.count))


STORY = {
    "en": [
        ("agent", "Thank you for calling Northwind, this is Dana, how can I help?"),
        ("customer", "I was charged twice for my order and nobody called me back."),
        ("agent", "I'm sorry about that. Can I have your account number?"),
        ("customer", "It's four seven two nine one eight three. This is ridiculous."),
        ("agent", "I can see why that's frustrating. Let me look at the charges."),
    ],
    "zh": [
        ("agent", "您好，这里是北风公司，我是小李，请问有什么可以帮您？"),
        ("customer", "我的订单被扣了两次钱，也没有人给我回电话。"),
        ("agent", "非常抱歉。请问您的账号是多少？"),
        ("customer", "四七二九一八三。太离谱了。"),
        ("agent", "我能理解您的心情，我马上查一下这两笔扣款。"),
    ],
}


def tell_story(call: ScriptedCall, *, upset: bool = True) -> None:
    """A believable first minute: a greeting, a complaint, numbers, prompts on screen."""
    t = 2.0
    for i, (who, text) in enumerate(STORY[call.lang]):
        call.say(t, who, text)
        call.meters(t + 0.5, share=0.55, silence=0.4, wpm=148 + 3 * i, mood="calm")
        t += 6.0
    call.meters(t, share=0.46, silence=0.2, wpm=152, mood="agitated" if upset else "calm")
    if upset:
        call.prompt(
            t - 4.0,
            "negative_phrase",
            phrase="ridiculous" if call.lang == "en" else "离谱",
            heard="ridiculous" if call.lang == "en" else "太离谱了",
            speaker="customer",
            suggestion=call.pack.phrase_list("empathy")[0],  # the card's empathy words
        )
        call.prompt(t, "agitation", pitch_st=3.4, level_db=6.1, speaker="customer")
