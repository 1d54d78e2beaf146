"""Rule packs as data: loading, validation errors naming the line, and the engine's policy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from assist.core.detector import Condition, Detector
from assist.core.errors import RulePackError
from assist.core.rules import RuleEngine, parse_pack
from assist.runtime.packs import default_pack, load_pack

GOOD = """
[pack]
name = "t"
lang = "en"
max_active = 2

[[rule]]
id = "customer_silence"
detector = "silence_after"
text = "Customer silent {min_s:.0f}s"
[rule.params]
last_speaker = "agent"
min_s = 8.0
"""


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_builtin_packs_load_and_share_rule_ids(lang: str) -> None:
    pack = default_pack(lang)
    assert pack.lang == lang
    assert {r.id for r in pack.rules} == {r.id for r in default_pack("en").rules}


def test_parse_good_pack() -> None:
    pack = parse_pack(GOOD)
    assert pack.max_active == 2
    rule = pack.rule("customer_silence")
    assert rule.params["min_s"] == 8.0 and rule.clears and rule.severity == "warn"


def test_titles_and_min_show_time_reach_the_prompt() -> None:
    """The card's readable title and least time on screen are pack data (pack default, rule
    override), carried on the prompt event; no title falls back to the id, capitalised."""
    pack = parse_pack(GOOD.replace("max_active = 2", "max_active = 2\nmin_show_s = 6"))
    assert pack.min_show_s == 6.0
    eng = RuleEngine(
        pack_with(rule("a_b", '["1-2"]'), rule("c", '["1-2"]', title='"See"', min_show_s=1))
    )
    prompts = {e.rule: e for e in eng.evaluate(Ctx(1.0)) if e.type == "prompt"}
    assert (prompts["a_b"].title, prompts["a_b"].min_show_s) == ("A b", 4.0)
    assert (prompts["c"].title, prompts["c"].min_show_s) == ("See", 1.0)
    for lang in ("en", "zh"):
        assert all(r.title for r in default_pack(lang).rules)
    assert default_pack("zh").rule("customer_silence").title == "客户沉默"
    with pytest.raises(RulePackError, match=r"pack\.min_show_s: expected a number of seconds"):
        parse_pack(GOOD.replace("max_active = 2", "max_active = 2\nmin_show_s = -1"))


@pytest.mark.parametrize(
    ("edit", "message", "line"),
    [
        (("min_s = 8.0", 'min_s = "eight"'), "].params.min_s: expected a number, got", 13),
        (("min_s = 8.0", "min_sec = 8.0"), "params.min_sec: unknown param", 13),
        (('detector = "silence_after"', 'detector = "nope"'), "unknown detector", 9),
        (("text = ", "txt = "), "].txt: unknown key (known: ", 10),
        (("[rule.params]", 'severity = "loud"\n[rule.params]'), "].severity: expected one of", 11),
        (("max_active = 2", "max_active = 2 2"), "invalid TOML", 5),
        (('last_speaker = "agent"', 'last_speaker = "bot"'), "last_speaker must be", 8),
        (("{min_s:.0f}s", "{min_s"), "broken placeholder", 10),
        (("{min_s:.0f}s", "{min_s}}s {"), "broken placeholder", 10),
        (("{min_s:.0f}s", "{min_s.real}s"), "must be a plain name", 10),
        (("{min_s:.0f}s", "{min_s!x}s"), "unknown conversion", 10),
        (("{min_s:.0f}s", "{min_s:{x}}s"), "nests another placeholder", 10),
    ],
)
def test_bad_pack_errors_name_the_line(edit: tuple[str, str], message: str, line: int) -> None:
    text = GOOD.replace(*edit)
    with pytest.raises(RulePackError) as err:
        parse_pack(text, "pack.toml")
    assert message in str(err.value)
    assert str(err.value).startswith(f"pack.toml:{line}:")


def test_a_loaded_pack_fills_every_text_when_its_rule_fires() -> None:
    """What the loader accepts never crashes the call later: each built-in text formats."""
    from assist.core.rules import _FMT

    for lang in ("en", "zh"):
        for rule in default_pack(lang).rules:
            assert _FMT.format(rule.text, **rule.params)


def test_duplicate_ids_and_empty_pack_are_rejected() -> None:
    with pytest.raises(RulePackError, match="duplicate rule id"):
        parse_pack(GOOD + GOOD.split("[pack]")[1].split("max_active = 2")[1])
    with pytest.raises(RulePackError, match="no \\[\\[rule\\]\\]"):
        parse_pack("[pack]\nname='x'\n")


def test_load_pack_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RulePackError, match="no such file"):
        load_pack(tmp_path / "missing.toml")


# --- engine policy, with a scripted detector -------------------------------------------------


class Scripted(Detector):
    """Holds while ctx.now is inside any of the spans in params 'spans' (as 'a-b' strings)."""

    name = "test_scripted"
    params = {"spans": (list, None)}

    def check(self, ctx):  # type: ignore[no-untyped-def]
        for span in self.p["spans"]:
            a, b = (float(x) for x in span.split("-"))
            if a <= ctx.now < b:
                return Condition({"span": span})
        return None


@dataclass
class Ctx:
    now: float


def pack_with(*rules: str, max_active: int = 3):  # type: ignore[no-untyped-def]
    return parse_pack(f"[pack]\nmax_active = {max_active}\n" + "\n".join(rules))


def rule(rid: str, spans: str, **extra: object) -> str:
    lines = [f'[[rule]]\nid = "{rid}"\ndetector = "test_scripted"\ntext = "{rid} {{span}}"']
    lines += [f"{k} = {str(v).lower() if isinstance(v, bool) else v}" for k, v in extra.items()]
    lines.append(f"[rule.params]\nspans = {spans}")
    return "\n".join(lines)


def run(
    engine: RuleEngine, until: float, step: float = 0.5, start: float = 0.0
) -> list[tuple[float, str, str]]:
    out = []
    t = start
    while t <= until:
        for ev in engine.evaluate(Ctx(t)):
            out.append((t, ev.type, ev.prompt_id))
        t = round(t + step, 3)
    return out


def test_edge_triggered_once_per_episode_and_cleared() -> None:
    eng = RuleEngine(pack_with(rule("a", '["1-3", "5-6"]')))
    assert run(eng, 7) == [
        (1.0, "prompt", "a-1"),
        (3.0, "prompt_cleared", "a-1"),
        (5.0, "prompt", "a-2"),
        (6.0, "prompt_cleared", "a-2"),
    ]


def test_cooldown_suppresses_a_new_episode() -> None:
    eng = RuleEngine(pack_with(rule("a", '["1-2", "3-4", "12-13"]', cooldown_s=10)))
    assert [e for e in run(eng, 14) if e[1] == "prompt"] == [
        (1.0, "prompt", "a-1"),
        (12.0, "prompt", "a-2"),
    ]


def test_ttl_expires_momentary_prompts_that_do_not_clear() -> None:
    eng = RuleEngine(pack_with(rule("a", '["1-1.5"]', clears=False, ttl_s=4)))
    assert run(eng, 8) == [(1.0, "prompt", "a-1"), (5.0, "prompt_cleared", "a-1")]


def test_priority_order_and_max_active() -> None:
    eng = RuleEngine(
        pack_with(
            rule("low", '["1-9"]', priority=10),
            rule("mid", '["1-9"]', priority=50),
            rule("high", '["2-9"]', priority=90),
            max_active=2,
        )
    )
    events = run(eng, 3)
    assert events[:2] == [(1.0, "prompt", "mid-1"), (1.0, "prompt", "low-2")]
    assert events[2:] == [(2.0, "prompt_cleared", "low-2"), (2.0, "prompt", "high-3")]
    assert set(eng.active) == {"mid", "high"}


def test_acknowledge_and_close() -> None:
    eng = RuleEngine(pack_with(rule("a", '["1-9"]')))
    run(eng, 1)
    assert eng.acknowledge("a-1").reason == "acknowledged"  # type: ignore[union-attr]
    assert eng.acknowledge("a-1") is None
    assert run(eng, 3, start=1.5) == []  # same episode: acknowledged means gone for it
    assert eng.close() == []
    run(eng, 9.5, start=9.0)  # the episode ends...
    assert run(eng, 1.0, start=1.0) == [(1.0, "prompt", "a-2")]  # ...and the next one fires
    assert [c.reason for c in eng.close()] == ["call_ended"]


def test_a_momentary_cue_with_no_free_slot_waits_for_one_up_to_its_ttl() -> None:
    """A word cue fires once (a goodbye with no thanks happens once): when higher priorities
    hold every slot it is shown as soon as one frees, unless its ttl has run out by then."""
    eng = RuleEngine(
        pack_with(
            rule("high", '["1-1.5"]', priority=90, clears=False, ttl_s=2),
            rule("low", '["1-1.5"]', priority=10, clears=False, ttl_s=4),
            max_active=1,
        )
    )
    assert run(eng, 8) == [
        (1.0, "prompt", "high-1"),
        (3.0, "prompt_cleared", "high-1"),
        (3.0, "prompt", "low-2"),  # waited 2 s for the slot
        (7.0, "prompt_cleared", "low-2"),
    ]
    late = RuleEngine(
        pack_with(
            rule("high", '["1-1.5"]', priority=90, clears=False, ttl_s=3),
            rule("low", '["1-1.5"]', priority=10, clears=False, ttl_s=2),
            max_active=1,
        )
    )
    assert [e for e in run(late, 8) if e[1] == "prompt"] == [(1.0, "prompt", "high-1")]
    # a lasting cue (clears = true) is not kept waiting: its condition is still there to see
    lasting = RuleEngine(
        pack_with(
            rule("high", '["1-1.5"]', priority=90, clears=False, ttl_s=2),
            rule("low", '["1-1.5"]', priority=10),
            max_active=1,
        )
    )
    assert [e for e in run(lasting, 8) if e[1] == "prompt"] == [(1.0, "prompt", "high-1")]
