"""The call-shape checklist, live and after the call: the session sends it as `checklist` events
that tick as the agent speaks; prompts decide "no"; the stored call judged afterwards gives the
same verdicts; who hung up (and whether the customer was upset then) decides the last two."""

from __future__ import annotations

import dataclasses
import re
from importlib import resources
from typing import Any

import numpy as np
import pytest

from assist.core.audio import FRAME_SAMPLES
from assist.core.checklist import ITEMS, Tracker, checklist, score, stored
from assist.core.errors import RulePackError
from assist.core.events import CallState, Event, Hangup, Transcript
from assist.core.pack import ChecklistConfig, RulePack
from assist.core.rules import parse_pack
from assist.core.session import CallSession
from assist.runtime.packs import default_pack

SILENT = np.zeros(FRAME_SAMPLES, np.float32)
Script = list[tuple[float, str, Any]]  # (t, "agent"/"customer", text) or (t, "note", EventData)


def call(lang: str, script: Script, pack: RulePack | None = None) -> list[dict[str, Any]]:
    s = CallSession("t", pack=pack or default_pack(lang))
    events = s.start()
    for t, who, what in script:
        while s.t < t:
            events += s.feed(SILENT, SILENT)
        if who == "note":
            events += s.note(what)
            continue
        final = Transcript(speaker=who, kind="final", text=what, start=t - 1.0, end=t)  # type: ignore[arg-type]
        events += s.add_transcript(final)
    for _ in range(50):
        events += s.feed(SILENT, SILENT)
    events += s.end()
    return [e.to_dict() for e in events]


def live(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "checklist"]


def states(event: dict[str, Any]) -> dict[str, str]:
    return {i["name"]: i["state"] for i in event["data"]["items"]}


def verdicts(events: list[dict[str, Any]], lang: str = "en") -> dict[str, str]:
    items = checklist(events, default_pack(lang))
    assert [i.name for i in items] == list(ITEMS)
    return {i.name: i.verdict for i in items}


def history(events: list[dict[str, Any]], name: str) -> list[tuple[float, str, str]]:
    """(t, state, detail) of one item each time it changed on the overlay's stream."""
    out: list[tuple[float, str, str]] = []
    for e in live(events):
        item = next(i for i in e["data"]["items"] if i["name"] == name)
        now = (e["t"], item["state"], item.get("detail", ""))
        if not out or out[-1][1:] != now[1:]:
            out.append(now)
    return out


GOOD = [
    (2.0, "agent", "thank you for calling acme bank my name is sam"),
    (6.0, "customer", "my account number is 4729183"),
    (9.0, "agent", "so that is 4729183"),
    (12.0, "agent", "anything else i can help with"),
    (15.0, "customer", "that's all"),
    (18.0, "agent", "thank you for calling goodbye"),
]


def test_a_good_call_ticks_each_item_live_as_the_agent_does_it() -> None:
    events = call("en", GOOD)
    first = live(events)[0]
    assert first["seq"] == 1 and set(states(first).values()) == {"pending"}  # right after start
    assert history(events, "greeting") == [(0.0, "pending", ""), (2.0, "yes", "")]
    # the number the customer gave is pinned until the agent reads it back
    assert history(events, "numbers_read_back") == [
        (0.0, "pending", ""),
        (6.0, "pending", "4729183"),
        (9.0, "yes", "4729183"),
    ]
    assert history(events, "anything_else_asked")[-1][:2] == (12.0, "yes")
    assert history(events, "thanked")[-1][:2] == (18.0, "yes")  # not the greeting's "thank you"
    final = live(events)[-1]
    assert final["data"]["final"] and events[-1]["type"] == "call_ended"
    assert final["seq"] == events[-1]["seq"] - 1  # the final verdicts come just before the end
    v = states(final)
    assert v["greeting"] == v["numbers_read_back"] == v["anything_else_asked"] == "yes"
    assert v["thanked"] == "yes" and v["restated"] == "n/a"  # no complaint to restate
    assert v["answered_promptly"] == "n/a"  # a recorded call: no ringing
    assert v["customer_hung_up_first"] == v["not_hung_up_on_upset"] == "n/a"  # a demo: unknown
    assert final["data"]["score"] == "4/4"


def test_live_and_after_the_call_give_the_same_verdicts() -> None:
    for lang, script in (("en", GOOD), ("zh", COMPLAINT_ZH)):
        events = call(lang, script)
        final = live(events)[-1]["data"]["items"]
        without = [e for e in events if e["type"] != "checklist"]  # a call stored before
        judged = checklist(without, default_pack(lang))
        assert [(i.name, i.verdict, i.t) for i in judged] == [
            (i["name"], i["state"], i["t"]) for i in final
        ]
        mine = stored(events)
        assert mine is not None and [i.verdict for i in mine] == [i.verdict for i in judged]


COMPLAINT_ZH = [
    (2.0, "agent", "喂 你好"),
    (6.0, "customer", "你们 服务 太 差 了 我 的 账号 是 4729183"),
    (9.0, "agent", "我 帮您 申请 退款"),
    (40.0, "agent", "好 的 再见"),  # the earlier cards have expired (max_active 3)
]


def test_each_prompt_is_a_no_at_its_moment_and_never_shows_yes_first() -> None:
    events = call("zh", COMPLAINT_ZH)
    items = {i.name: i for i in checklist(events, default_pack("zh"))}
    for name in ("greeting", "restated", "numbers_read_back", "anything_else_asked", "thanked"):
        assert items[name].verdict == "no", name
        seen = [s for _, s, _ in history(events, name)]
        assert [s for i, s in enumerate(seen) if i == 0 or s != seen[i - 1]] == ["pending", "no"]
    assert 9.0 <= (items["restated"].t or 0) <= 9.1
    assert score(list(items.values())) == "0/5"
    assert history(events, "numbers_read_back")[1][2] == "4729183"  # pinned, then missed


def test_a_call_that_ends_before_any_closing_is_never_ticked_for_what_was_not_heard() -> None:
    """The customer gives a number and the call ends before any closing is heard (they hang
    up; on a loaded machine the closing's audio was dropped): the number never said back is
    "no" at the end, and "anything else" and "thanked" are n/a, not judged. All three used
    to turn "yes" at the end, on a call whose agent was never heard doing any of them."""
    script: Script = [
        (2.0, "agent", "thank you for calling acme bank my name is sam"),
        (6.0, "customer", "my account number is 4729183"),
        (9.0, "agent", "let me look at your account"),
    ]
    for events in (call("en", script), call("en", script[:2])):
        end = events[-1]["t"]
        assert events[-1]["type"] == "call_ended" and end > 6.0
        assert "confirm_numbers" not in [e["data"]["rule"] for e in events if e["type"] == "prompt"]
        items = {i.name: i for i in stored(events) or []}
        assert (items["numbers_read_back"].verdict, items["numbers_read_back"].t) == ("no", end)
        assert items["numbers_read_back"].detail == "4729183"
        assert items["anything_else_asked"].verdict == items["thanked"].verdict == "n/a"
        assert items["greeting"].verdict == "yes"
        judged = checklist([e for e in events if e["type"] != "checklist"], default_pack("en"))
        assert [(i.name, i.verdict, i.t) for i in judged] == [
            (i.name, i.verdict, i.t) for i in items.values()
        ]


def ringing_call(answer_at: float, hangup: list[tuple[float, str, Any]]) -> Script:
    return [
        (0.0, "note", CallState(state="ringing")),
        (answer_at, "note", CallState(state="confirmed")),
        *hangup,
    ]


def test_answered_promptly_from_the_ring_time() -> None:
    def states_at(answer_at: float) -> list[dict[str, Any]]:
        ring = Event("c", 0, 0.0, CallState(state="ringing")).to_dict()
        up = Event("c", 1, answer_at, CallState(state="confirmed")).to_dict()
        return [ring, up]

    assert verdicts(states_at(6.0))["answered_promptly"] == "yes"
    assert verdicts(states_at(25.0))["answered_promptly"] == "no"
    assert score(checklist([], default_pack("en"))) == "-"
    events = call("en", ringing_call(3.0, []))
    assert history(events, "answered_promptly")[-1][:2] == (3.0, "yes")  # live, at the answer


UPSET = [
    (6.0, "agent", "thank you for calling acme bank my name is sam"),
    (10.0, "customer", "this is ridiculous i want to cancel"),  # negative_phrase: upset
]


def test_who_hung_up_decides_the_last_two_items() -> None:
    def hung(by: str, at: float, pack: RulePack | None = None) -> dict[str, str]:
        script = ringing_call(2.0, [*UPSET, (at, "note", Hangup(by=by))])  # type: ignore[arg-type]
        events = call("en", script, pack)
        assert "negative_phrase" in [e["data"]["rule"] for e in events if e["type"] == "prompt"]
        return states(live(events)[-1])

    agent = hung("agent", 20.0)  # 10 s after the customer got upset
    assert agent["customer_hung_up_first"] == "no" and agent["not_hung_up_on_upset"] == "no"
    customer = hung("customer", 20.0)
    assert customer["customer_hung_up_first"] == "yes"
    assert customer["not_hung_up_on_upset"] == "yes"
    calm = hung("agent", 50.0)  # 40 s later: no longer upset (upset_s 30): does not apply
    assert calm["customer_hung_up_first"] == "no" and calm["not_hung_up_on_upset"] == "n/a"
    unknown = hung("unknown", 20.0)  # a SIPREC recording's BYE: nobody knows who
    assert unknown["customer_hung_up_first"] == unknown["not_hung_up_on_upset"] == "n/a"
    # the window is rule-pack data: with upset_s 5 the same hang-up is not on an upset customer
    en = default_pack("en")
    short = dataclasses.replace(en, checklist=ChecklistConfig(upset_s=5.0))
    assert hung("agent", 20.0, short)["not_hung_up_on_upset"] == "n/a"


def test_the_voice_mood_counts_as_upset_too() -> None:
    t = Tracker(default_pack("en"))
    t.feed({"type": "call_state", "t": 0.0, "data": {"state": "confirmed"}})
    t.feed({"type": "meters", "t": 30.0, "data": {"mood": "agitated"}})
    changed = t.feed({"type": "hangup", "t": 40.0, "data": {"by": "agent"}})
    assert [(i.name, i.verdict) for i in changed] == [
        ("customer_hung_up_first", "no"),
        ("not_hung_up_on_upset", "no"),
    ]
    assert t.feed({"type": "call_ended", "t": 41.0, "data": {}})  # the rest: n/a
    assert t.feed({"type": "prompt", "t": 42.0, "data": {"rule": "greeting"}}) == []  # over


def test_the_pinned_number_is_shown_as_heard_with_its_unsure_digits_marked() -> None:
    """As the `confirm_numbers` prompt shows it: digits the recogniser was unsure of (under the
    rule's `unsure_below`) in brackets, never a confident "4729183" the customer may not have
    said; read back, it ticks and keeps that form."""

    def said(t: Tracker, who: str, at: float, text: str, confs: tuple[float, ...] = ()) -> None:
        words = [{"w": w, "conf": c} for w, c in zip(text.split(), confs, strict=False)]
        t.feed({"type": "transcript", "t": at, "data": {
            "speaker": who, "kind": "final", "text": text, "words": words}})  # fmt: skip

    def pinned(confs: tuple[float, ...]) -> Tracker:
        t = Tracker(default_pack("en"))
        said(t, "agent", 2.0, "thank you for calling acme bank my name is sam")
        said(t, "customer", 6.0, "account 4729 183", confs)
        return t

    unsure = pinned((0.95, 0.2, 0.9))
    item = unsure.items["numbers_read_back"]
    assert (item.verdict, item.t, item.detail) == ("pending", 6.0, "[4729]183")
    said(unsure, "agent", 9.0, "so that is 4729183")
    item = unsure.items["numbers_read_back"]
    assert (item.verdict, item.t, item.detail) == ("yes", 9.0, "[4729]183")
    sure = pinned((0.95, 0.9, 0.9)).items["numbers_read_back"]
    assert (sure.verdict, sure.detail) == ("pending", "4729183")


def with_checklist(table: str) -> str:
    """The shipped English pack with `table` in place of its own `[checklist]`."""
    text = resources.files("assist").joinpath("rules", "en.toml").read_text("utf-8")
    text = re.sub(r"\[checklist\]\n(?:[a-z_]+ = .*\n)*", "", text)
    return text.replace("[[rule]]", table + "\n\n[[rule]]", 1)


def test_the_checklist_table_is_checked_like_any_pack_key() -> None:
    assert parse_pack(with_checklist("")).checklist == ChecklistConfig()  # defaults
    got = parse_pack(with_checklist("[checklist]\nanswer_s = 20\nupset_rules = ['agitation']"))
    assert got.checklist.answer_s == 20.0 and got.checklist.upset_rules == ("agitation",)
    for table, says in (
        ("[checklist]\nanswer = 20", r"checklist.answer: unknown key \(known: answer_s"),
        ("[checklist]\nupset_s = -1", "checklist.upset_s: expected a number of seconds from 0"),
        ("[checklist]\nupset_rules = 'agitation'", "checklist.upset_rules: expected a list"),
        ("[checklist]\nupset_rules = ['shouting']", "no rule 'shouting' in the pack"),
    ):
        with pytest.raises(RulePackError, match=says):
            parse_pack(with_checklist(table), "my.toml")


def test_report_and_calls_list_take_the_stored_final_else_judge_the_events() -> None:
    from assist.runtime.report import judged

    events = call("en", GOOD)
    final = events[-2]
    assert final["type"] == "checklist" and final["data"]["final"]
    said = [dict(i, state="no") if i["name"] == "greeting" else i for i in final["data"]["items"]]
    own = [*events[:-2], {**final, "data": {**final["data"], "items": said}}, events[-1]]
    assert {i.name: i.verdict for i in judged(own, "en")}["greeting"] == "no"  # the session's
    before = [e for e in events if e["type"] != "checklist"]  # stored before it went live
    assert score(judged(before, "en")) == "4/4"


@pytest.mark.parametrize(
    ("lang", "script", "read_back"),
    [
        # each side lost a digit of 5552301: still a read-back, as the rule judges it
        (
            "en",
            [
                (2.0, "agent", "hello you are through to the bangs my name is sam"),
                (6.0, "customer", "my phone number is 555-3001"),
                (9.0, "agent", "your number is 5 5 2 3 0 1"),
                (12.0, "customer", "great thank you"),
                (15.0, "agent", "thank you for calling goodbye"),
            ],
            True,
        ),
        # two digits swapped: a wrong read-back; the customer's thanks starts closing: "no"
        (
            "en",
            [
                (2.0, "agent", "hello you are through to the bangs my name is sam"),
                (6.0, "customer", "my account number is 29340"),
                (9.0, "agent", "so that is 2 9 4 3 0"),
                (12.0, "customer", "great thank you"),
                (15.0, "agent", "thank you for calling goodbye"),
            ],
            False,
        ),
        (
            "zh",
            [
                (2.0, "agent", "您好 欢迎 致电 安可 银行 我 是 小 王"),
                (6.0, "customer", "我 的 电话 是 五五五三零零一"),
                (9.0, "agent", "您 的 电话 是 五五二三零一"),
                (12.0, "customer", "好 的 谢谢"),
                (15.0, "agent", "感谢 您 的 来电 再见"),
            ],
            True,
        ),
        (
            "zh",
            [
                (2.0, "agent", "您好 欢迎 致电 安可 银行 我 是 小 王"),
                (6.0, "customer", "我 的 账号 是 二九三四零"),
                (9.0, "agent", "您 的 账号 是 二九四三零"),
                (12.0, "customer", "好 的 谢谢"),
                (15.0, "agent", "感谢 您 的 来电 再见"),
            ],
            False,
        ),
    ],
)
def test_the_checklist_agrees_with_the_rules_on_read_backs_and_the_company(
    lang: str, script: Script, read_back: bool
) -> None:
    """The live items use the rules' matching: a company name written by ear ("bangs") is the
    company, a read-back with a digit lost on each side ticks, a swapped one never does and
    turns "no" when the customer's thanks starts closing."""
    events = call(lang, script)
    prompts = [e["data"]["rule"] for e in events if e["type"] == "prompt"]
    assert "greeting" not in prompts
    assert history(events, "greeting")[1][:2] == (2.0, "yes")
    got = history(events, "numbers_read_back")
    if read_back:
        assert "confirm_numbers" not in prompts
        assert got[-1][:2] == (9.0, "yes")
    else:
        assert [s for _, s, _ in got] == ["pending", "pending", "no"]
        assert got[-1][0] == pytest.approx(12.0, abs=0.021)  # at the thanks, not the goodbye


@pytest.mark.parametrize(
    ("lang", "asked", "said", "pinned"),
    [
        ("en", "what are the last four digits", "1385", "1385"),  # asked for: context
        ("en", "how can i help", "i was charged $250 twice", "250"),  # a currency sign
        ("en", "how can i help", "it is two nine three four", "2934"),  # said digit by digit
        ("en", "how can i help", "i was charged 250 twice", ""),  # three digits, no evidence
        ("zh", "请问 您 的 卡号 后四位 是 多少", "三八五七", "3857"),
        ("zh", "好 的", "对 的", ""),
    ],
)
def test_the_checklist_pins_the_numbers_the_rule_asks_to_read_back(
    lang: str, asked: str, said: str, pinned: str
) -> None:
    """A number counts as given on the checklist exactly when the `confirm_numbers` rule
    would ask for it back (numbers.given): the pinned item and the prompt agree."""
    greet = (
        "hello acme bank my name is sam" if lang == "en" else "您好 欢迎 致电 安可 银行 我 是 小 王"
    )
    close = "anything else i can help with" if lang == "en" else "还有 什么 可以 帮 您"
    script: Script = [(2.0, "agent", greet), (5.0, "agent", asked), (8.0, "customer", said)]
    events = call(lang, [*script, (12.0, "agent", close)])
    prompted = any(e["data"]["rule"] == "confirm_numbers" for e in events if e["type"] == "prompt")
    got = history(events, "numbers_read_back")
    assert prompted == bool(pinned)
    if pinned:
        assert got[1] == (8.0, "pending", pinned) and got[-1][1] == "no"
    else:
        assert got[-1][1] == "n/a"
