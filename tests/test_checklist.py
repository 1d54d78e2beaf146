"""The call-shape checklist after a call, from its events: prompts decide "no", a call that got
far enough without them "yes", the rest n/a; SIP ring time decides answered promptly."""

from __future__ import annotations

from typing import Any

import numpy as np

from assist.core.audio import FRAME_SAMPLES
from assist.core.checklist import ITEMS, checklist, score
from assist.core.events import CallState, Event, Transcript
from assist.core.session import CallSession
from assist.runtime.packs import default_pack

SILENT = np.zeros(FRAME_SAMPLES, np.float32)


def call(lang: str, script: list[tuple[float, str, str]]) -> list[dict[str, Any]]:
    s = CallSession("t", pack=default_pack(lang))
    events = s.start()
    for t, who, text in script:
        while s.t < t:
            events += s.feed(SILENT, SILENT)
        final = Transcript(speaker=who, kind="final", text=text, start=t - 1.0, end=t)  # type: ignore[arg-type]
        events += s.add_transcript(final)
    for _ in range(50):
        events += s.feed(SILENT, SILENT)
    events += s.end()
    return [e.to_dict() for e in events]


def verdicts(events: list[dict[str, Any]], lang: str = "en") -> dict[str, str]:
    items = checklist(events, lang)
    assert [i.name for i in items] == list(ITEMS)
    return {i.name: i.verdict for i in items}


def test_a_good_call_scores_every_item_that_applied() -> None:
    events = call(
        "en",
        [
            (2.0, "agent", "thank you for calling acme bank my name is sam"),
            (6.0, "customer", "my account number is 4729183"),
            (9.0, "agent", "so that is 4729183"),
            (12.0, "agent", "anything else i can help with"),
            (15.0, "customer", "that's all"),
            (18.0, "agent", "thank you for calling goodbye"),
        ],
    )
    v = verdicts(events)
    assert v["greeting"] == v["numbers_read_back"] == v["anything_else_asked"] == "yes"
    assert v["thanked"] == "yes" and v["restated"] == "n/a"  # no complaint to restate
    assert v["answered_promptly"] == "n/a"  # a recorded call: no ringing
    assert score(checklist(events)) == "4/4"


def test_each_prompt_is_a_no_at_its_moment() -> None:
    events = call(
        "zh",
        [
            (2.0, "agent", "喂 你好"),
            (6.0, "customer", "你们 服务 太 差 了 我 的 账号 是 4729183"),
            (9.0, "agent", "我 帮您 申请 退款"),
            (40.0, "agent", "好 的 再见"),  # the earlier cards have expired (max_active 3)
        ],
    )
    items = {i.name: i for i in checklist(events, "zh")}
    for name in ("greeting", "restated", "numbers_read_back", "anything_else_asked", "thanked"):
        assert items[name].verdict == "no", name
    assert 9.0 <= (items["restated"].t or 0) <= 9.1
    assert score(list(items.values())) == "0/5"


def test_answered_promptly_from_the_ring_time() -> None:
    def states(answer_at: float) -> list[dict[str, Any]]:
        ring = Event("c", 0, 0.0, CallState(state="ringing")).to_dict()
        up = Event("c", 1, answer_at, CallState(state="confirmed")).to_dict()
        return [ring, up]

    assert verdicts(states(6.0))["answered_promptly"] == "yes"
    assert verdicts(states(25.0))["answered_promptly"] == "no"
    assert score(checklist([])) == "-"
