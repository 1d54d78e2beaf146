"""A synthetic call driven frame by frame into a live OverlayServer (server and browser tests).

The call: the agent speaks 0.5-2.0 s, then nobody speaks, so `customer_silence` fires at about
10 s of audio; the customer answers at 14 s, which clears it. Frames are pushed on demand
(`play_to(t)`), so a test can hold the call at a moment (a card on screen) while it clicks.
"""

from __future__ import annotations

import threading
import time

from conftest import timeline

from assist.core.audio import ANALYSIS_RATE, FRAME_SAMPLES
from assist.core.events import Event
from assist.core.pack import RulePack
from assist.core.rules import parse_pack
from assist.core.session import CallSession
from assist.runtime.control import CallRegistry
from assist.runtime.packs import default_pack
from assist.runtime.runner import CallRunner, ListSink
from overlay.server import HubSink, OverlayServer

CALL_S = 16.0
PROMPT_AT = 10.0  # customer_silence: 8 s after the agent stops at 2.0 s
ANSWER_AT = 14.0

ALERT_PACK = """
[pack]
name = "test-alert"
lang = "en"
version = 1
max_active = 3

[[rule]]
id = "customer_silence"
detector = "silence_after"
text = "Customer silent {min_s:.0f}s — acknowledge / check in"
severity = "alert"
priority = 60
cooldown_s = 0
clears = true
[rule.params]
last_speaker = "agent"
min_s = 8.0
"""


def alert_pack() -> RulePack:
    return parse_pack(ALERT_PACK, "<test alert pack>")


class LiveCall:
    """One call on a CallRunner feeding `server` (and a ListSink), registered for feedback."""

    def __init__(
        self,
        server: OverlayServer,
        registry: CallRegistry,
        call_id: str = "c1",
        *,
        agent: str = "demo-agent",
        pack: RulePack | None = None,
        lang: str = "en",
    ) -> None:
        self.sink = ListSink()
        session = CallSession(call_id, pack=pack or default_pack(lang), source="demo", agent=agent)
        self.runner = CallRunner(session, [HubSink(server), self.sink], block=True).start()
        self.registry = registry
        registry.add(self.runner)
        self.call_id = call_id
        self.agent = timeline(CALL_S, [(0.5, 2.0)])
        self.customer = timeline(CALL_S, [(ANSWER_AT, ANSWER_AT + 1.2)], seed=7)
        self.pos = 0

    def play_to(self, t: float) -> None:
        end = min(int(t * ANALYSIS_RATE) // FRAME_SAMPLES, self.agent.shape[0] // FRAME_SAMPLES)
        for i in range(self.pos, end):
            sl = slice(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES)
            self.runner.push(self.agent[sl], self.customer[sl])
        self.pos = max(self.pos, end)

    def caught_up(self, timeout: float = 30.0) -> None:
        """Every frame pushed so far is analysed and its events are in the sinks (a wait on
        the runner itself, not a sleep that a loaded machine outlasts)."""
        end = time.monotonic() + timeout
        while self.runner.session.samples < self.runner.queued_end:
            assert time.monotonic() < end and self.runner.alive, "the call's runner fell behind"
            time.sleep(0.01)
        # the last frame's events may still be on their way out: work queued now runs after
        done = threading.Event()

        def mark(_session: CallSession) -> list[Event]:
            done.set()
            return []

        assert self.runner.submit(mark)
        assert done.wait(max(0.0, end - time.monotonic())), "the call's runner did not get to it"

    def finish(self) -> None:
        self.play_to(CALL_S)
        self.runner.finish(timeout=10)
        self.registry.remove(self.call_id)

    def types(self) -> list[str]:
        return [e.type for e in self.sink.events]
