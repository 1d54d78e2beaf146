"""Turn-taking rules on synthetic calls, with exact firing windows: no_backchannel, overtalk,
long_monologue, talk_ratio; and the rule-pack errors of their params."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import noise, of_type, run_session, timeline

from assist.core.errors import RulePackError
from assist.core.rules import parse_pack

TICK = 0.06  # a prompt is decided on the frame that crosses the threshold: allow 3 frames


def fired(events, rule: str) -> list[float]:  # type: ignore[no-untyped-def]
    return [e.t for e in of_type(events, "prompt", rule=rule)]


def cleared(events, rule: str) -> list[tuple[float, str]]:  # type: ignore[no-untyped-def]
    return [(e.t, e.data.reason) for e in of_type(events, "prompt_cleared", rule=rule)]


def near(got: list[float], want: list[float], tol: float = TICK) -> bool:
    return len(got) == len(want) and all(w <= g <= w + tol for g, w in zip(got, want, strict=True))


# --- no_backchannel ---------------------------------------------------------------------------


def test_no_backchannel_fires_20s_into_an_unacknowledged_customer_turn_and_clears() -> None:
    customer = timeline(34, [(0.5, 30.0)], seed=2)
    ev = run_session(noise(34), customer)
    assert near(fired(ev, "no_backchannel"), [20.5])
    (prompt,) = of_type(ev, "prompt", rule="no_backchannel")
    assert prompt.data.text == "Acknowledge — 'I see', 'I understand'"
    assert prompt.data.evidence["talk_s"] == pytest.approx(20.0, abs=TICK)
    # the turn ends once the customer has been quiet max_gap_s (1.5 s) after 30.0
    ((t, reason),) = cleared(ev, "no_backchannel")
    assert reason == "condition_ended" and 31.5 <= t <= 31.5 + TICK


def test_short_agent_backchannels_restart_the_count() -> None:
    customer = timeline(42, [(0.5, 40.0)], seed=2)
    agent = timeline(42, [(8.0, 8.4), (16.0, 16.4)], seed=6)  # "mm-hm", "I see"
    ev = run_session(agent, customer)
    assert near(fired(ev, "no_backchannel"), [16.4 + 20.0])
    assert fired(ev, "overtalk") == []  # a backchannel is not an interruption


def test_pauses_shorter_than_max_gap_stay_in_the_turn_longer_ones_end_it() -> None:
    short = run_session(noise(26), timeline(26, [(0.5, 10.0), (11.0, 25.0)], seed=2))
    assert near(fired(short, "no_backchannel"), [20.5])
    long_ = run_session(noise(36), timeline(36, [(0.5, 10.0), (12.0, 35.0)], seed=2))
    assert near(fired(long_, "no_backchannel"), [32.0])


# --- overtalk ---------------------------------------------------------------------------------


def test_overtalk_fires_when_the_agent_talks_over_the_customer_for_1_5s() -> None:
    customer = timeline(12, [(1.0, 10.0)], seed=2)
    agent = timeline(12, [(4.0, 7.0)], seed=6)
    ev = run_session(agent, customer)
    assert near(fired(ev, "overtalk"), [5.5])
    assert of_type(ev, "prompt", rule="overtalk")[0].data.text == "Let the customer finish"
    # cleared when the agent's speech is over (decided after the 0.4 s hangover)
    ((t, reason),) = cleared(ev, "overtalk")
    assert reason == "condition_ended" and 7.0 <= t <= 7.5


def test_no_overtalk_when_the_customer_starts_second_or_the_overlap_is_short() -> None:
    customer_second = run_session(timeline(12, [(1.0, 10.0)]), timeline(12, [(4.0, 7.0)], seed=2))
    assert fired(customer_second, "overtalk") == []
    short = run_session(timeline(12, [(4.0, 5.2)]), timeline(12, [(1.0, 10.0)], seed=2))
    assert fired(short, "overtalk") == []


# --- long_monologue ---------------------------------------------------------------------------


def monologue(pause_s: float) -> list[tuple[float, float]]:
    """Agent speech 1..70 s in 10 s pieces separated by `pause_s` pauses."""
    spans, t = [], 1.0
    while t < 70.0:
        spans.append((t, min(t + 10.0, 70.0)))
        t += 10.0 + pause_s
    return spans


def test_long_monologue_bridges_short_pauses_and_clears_after_a_real_one() -> None:
    ev = run_session(timeline(74, monologue(0.7)), noise(74))
    assert near(fired(ev, "long_monologue"), [61.0])
    assert of_type(ev, "prompt", rule="long_monologue")[0].data.evidence["run_s"] >= 60.0
    ((t, reason),) = cleared(ev, "long_monologue")
    last_end = monologue(0.7)[-1][1]
    assert reason == "condition_ended" and last_end + 1.0 <= t <= last_end + 1.0 + TICK


def test_a_pause_of_a_second_or_more_restarts_the_monologue() -> None:
    ev = run_session(timeline(74, monologue(1.2)), noise(74))
    assert fired(ev, "long_monologue") == []


# --- talk_ratio -------------------------------------------------------------------------------


def turns(total: float, agent_s: float, customer_s: float, gap: float = 0.5):  # type: ignore[no-untyped-def]
    a, c, t = [], [], 0.5
    while t < total:
        a.append((t, min(t + agent_s, total)))
        t += agent_s + gap
        if t < total:
            c.append((t, min(t + customer_s, total)))
        t += customer_s + gap
    return a, c


def expected_talk_ratio(a, c, min_share=0.7, min_talk=60.0, window=180.0) -> float:  # type: ignore[no-untyped-def]
    """First time (20 ms grid) at which the spans meet the rule: the ground truth."""

    def talk(spans, t):  # type: ignore[no-untyped-def]
        return sum(max(0.0, min(e, t) - max(s, t - window)) for s, e in spans)

    for t in np.arange(0.02, 400, 0.02):
        mine, total = talk(a, t), talk(a, t) + talk(c, t)
        if total >= min_talk and mine / total >= min_share:
            return float(t)
    raise AssertionError("never")


def test_talk_ratio_fires_once_enough_speech_shows_the_agent_over_70_percent() -> None:
    a, c = turns(90, 8.0, 2.0)  # agent 80 % of the talk
    ev = run_session(timeline(90, a), timeline(90, c, seed=3))
    want = expected_talk_ratio(a, c)
    assert want > 60  # not before there is 60 s of speech
    assert near(fired(ev, "talk_ratio"), [want], tol=0.15)
    (prompt,) = of_type(ev, "prompt", rule="talk_ratio")
    assert prompt.data.text == f"Listen more (you: {prompt.data.evidence['share']:.0%} of the talk)"
    assert prompt.data.evidence["share"] == pytest.approx(0.8, abs=0.03)


def test_balanced_talk_raises_no_talk_ratio() -> None:
    a, c = turns(90, 5.0, 5.0)
    ev = run_session(timeline(90, a), timeline(90, c, seed=3))
    assert fired(ev, "talk_ratio") == []


# --- rule-pack errors for these params --------------------------------------------------------


def one_rule(detector: str, params: str) -> str:
    return f'[[rule]]\nid = "r"\ndetector = "{detector}"\ntext = "t"\n[rule.params]\n{params}\n'


@pytest.mark.parametrize(
    ("detector", "params", "message"),
    [
        ("unacknowledged", 'speaker = "bot"\nmin_s = 20', "speaker must be"),
        ("unacknowledged", "min_s = 0", "min_s must be > 0"),
        ("unacknowledged", "max_gap_s = 1", "params.min_s: missing"),
        ("overtalk", 'min_s = "long"', "params.min_s: expected a number"),
        ("monologue", "min_s = 60\nmax_gap = 1", "params.max_gap: unknown param"),
        ("monologue", "min_s = 60\nmax_gap_s = -1", "max_gap_s must be > 0"),
        ("talk_share", "min_share = 1.5", "min_share must be in (0, 1]"),
        ("talk_share", "min_share = 0.7\nwindow_s = 900", "window_s must be <= 600"),
        ("talk_share", "min_share = 0.7\nmin_talk_s = 200", "min_talk_s must be in"),
        ("talk_share", "min_share = 0.7\nrelease = 0.8", "release must be in"),
    ],
)
def test_bad_params_are_rule_pack_errors_naming_the_rule(
    detector: str, params: str, message: str
) -> None:
    with pytest.raises(RulePackError) as err:
        parse_pack(one_rule(detector, params), "p.toml")
    assert message in str(err.value)
    assert str(err.value).startswith("p.toml:")


def test_customer_backchannels_do_not_end_a_monologue() -> None:
    customer = timeline(74, [(15.0, 15.4), (35.0, 35.5), (50.0, 50.3)], seed=4)  # "mm-hm"
    ev = run_session(timeline(74, monologue(0.7)), customer)
    assert near(fired(ev, "long_monologue"), [61.0])
