"""Voice rules on synthetic calls with controlled pitch, level and syllable rate: pace_fast,
volume_low / volume_high, agitation, agent_escalating; and their rule-pack errors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import noise, of_type, run_session, timeline
from test_detectors_timing import cleared, fired, near, one_rule

from assist.core.audio import FRAME_SAMPLES
from assist.core.errors import RulePackError
from assist.core.events import Transcript, Word
from assist.core.rules import parse_pack
from assist.core.session import CallSession
from assist.runtime.packs import default_pack

CALM = {"f0": 140.0, "level_dbfs": -20.0}
ANGRY = {"f0": 200.0, "level_dbfs": -12.0}  # +6.2 semitones, +8 dB over CALM


def spans(total: float, parts: list[tuple[float, float, dict]], seed: int = 0) -> np.ndarray:  # type: ignore[type-arg]
    """Noise with speech in each (start, end, voice) span; voice = timeline() keywords."""
    x = noise(total, seed=seed + 50)
    for i, (a, b, voice) in enumerate(parts):
        x += timeline(total, [(a, b)], seed=seed + i, noise_dbfs=-120, **voice)
    return x


# --- pace_fast --------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_pace_fast_fires_once_fast_speech_has_held_2s_and_clears_after(lang: str) -> None:
    # 6.5 syllables/s: 260 wpm at 1.5 syllables a word (en), 390 characters a minute (zh)
    agent = timeline(14, [(1.0, 10.0)], syllable_hz=3.25)
    ev = run_session(agent, noise(14), lang=lang)
    # the rate is judged over at least 3 s of speech (confirmed 60 ms after the onset), then
    # must stay over the limit for hold_s (2 s)
    assert near(fired(ev, "pace_fast"), [6.0], tol=0.1)
    (prompt,) = of_type(ev, "prompt", rule="pace_fast")
    wpm = prompt.data.evidence["wpm"]
    assert wpm == pytest.approx(260 if lang == "en" else 390, rel=0.1)
    assert prompt.data.text == (
        "Slow down ({} wpm)" if lang == "en" else "语速放慢（每分钟{}字）"
    ).format(wpm)
    # clears once the agent has been quiet for active_s (1 s)
    ((t, reason),) = cleared(ev, "pace_fast")
    assert reason == "condition_ended" and 11.0 <= t <= 11.0 + 0.06


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_normal_pace_does_not_fire(lang: str) -> None:
    agent = timeline(14, [(1.0, 13.0)], syllable_hz=2.0)  # 4 syllables/s: 160 wpm
    ev = run_session(agent, noise(14), lang=lang)
    assert fired(ev, "pace_fast") == []
    meters = of_type(ev, "meters")[-1].data.agent
    assert meters.pace_wpm == pytest.approx(160 if lang == "en" else 240, rel=0.1)


def feed_with_transcript(agent: np.ndarray, at: float, final: Transcript, lang: str = "en"):  # type: ignore[no-untyped-def]
    """Run a session over `agent` (customer silent), adding `final` at audio time `at`."""
    session = CallSession("t", pack=default_pack(lang))
    events = session.start()
    customer = noise(agent.shape[0] / 16000)
    for i in range(agent.shape[0] // FRAME_SAMPLES):
        sl = slice(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES)
        events += session.feed(agent[sl], customer[sl])
        if abs(session.t - at) < 1e-9:
            events += session.add_transcript(final)
    return events


def final(words: list[str], start: float, end: float) -> Transcript:
    step = (end - start) / len(words)
    timed = tuple(
        Word(w=w, start=start + i * step, end=start + (i + 1) * step) for i, w in enumerate(words)
    )
    return Transcript(
        speaker="agent", kind="final", text=" ".join(words), words=timed, start=start, end=end
    )


def test_pace_uses_asr_words_when_they_are_there() -> None:
    # syllables say 160 wpm, but the recogniser heard 25 words in 5 s of speech: 300 wpm
    agent = timeline(12, [(1.0, 11.5)], syllable_hz=2.0)
    ev = feed_with_transcript(agent, 7.0, final(["word"] * 25, 1.5, 6.5))
    (prompt,) = of_type(ev, "prompt", rule="pace_fast")
    assert prompt.t == pytest.approx(9.0)  # words known at 7.0 s, then held 2 s
    assert prompt.data.evidence == {"wpm": 300, "source": "words", "speaker": "agent"}


def test_asr_words_at_a_normal_pace_overrule_the_syllable_estimate() -> None:
    agent = timeline(10, [(1.0, 9.5)], syllable_hz=3.25)  # syllables alone: 260 wpm at 4.0 s
    assert near(fired(run_session(agent, noise(10)), "pace_fast"), [6.0], tol=0.1)
    ev = feed_with_transcript(agent, 3.96, final(["word"] * 8, 0.9, 3.95))  # 157 wpm
    assert fired(ev, "pace_fast") == []


def test_chinese_pace_from_words_counts_characters() -> None:
    agent = timeline(12, [(1.0, 11.5)], syllable_hz=2.0)  # 240 characters a minute
    ev = feed_with_transcript(agent, 7.0, final(["您好", "请稍等"] * 6, 1.5, 5.5), lang="zh")
    (prompt,) = of_type(ev, "prompt", rule="pace_fast")  # 30 characters in 4 s: 450 a minute
    assert prompt.data.evidence["wpm"] == 450 and prompt.t == pytest.approx(9.0)


# --- volume_low / volume_high -----------------------------------------------------------------


def test_volume_low_fires_after_2s_of_quiet_speech_and_clears_when_it_is_normal() -> None:
    agent = spans(14, [(1.0, 8.0, {"level_dbfs": -42.0}), (8.0, 13.0, {"level_dbfs": -20.0})])
    ev = run_session(agent, noise(14))
    # level is judged on >= 0.5 s of voiced frames, then must hold 2 s: 1.0 + 0.5 + 2.0
    assert near(fired(ev, "volume_low"), [3.5], tol=0.1)
    assert of_type(ev, "prompt", rule="volume_low")[0].data.text == "Speak up"
    # the 2 s mean is back over -36 dBFS once a fifth of it is at -20: 8.4 s; release 1 s
    ((t, reason),) = cleared(ev, "volume_low")
    assert reason == "condition_ended" and 9.3 <= t <= 9.6
    assert fired(ev, "volume_high") == []


def test_volume_high_fires_on_shouting_and_normal_speech_raises_neither() -> None:
    loud = run_session(timeline(8, [(1.0, 7.0)], level_dbfs=-5.0), noise(8))
    assert near(fired(loud, "volume_high"), [3.5], tol=0.1)
    assert of_type(loud, "prompt", rule="volume_high")[0].data.text == "Lower your voice"
    normal = run_session(timeline(8, [(1.0, 7.0)], level_dbfs=-22.0), noise(8))
    assert fired(normal, "volume_low") == fired(normal, "volume_high") == []


def test_volume_low_also_means_too_little_over_the_line_noise() -> None:
    pack = parse_pack(
        one_rule("level", "min_snr_db = 25.0").replace('id = "r"', 'id = "volume_low"')
    )
    speech = timeline(8, [(1.0, 7.0)], level_dbfs=-30.0, noise_dbfs=-120.0)
    noisy = run_session(speech + noise(8, level_dbfs=-50.0), noise(8), pack=pack)
    assert near(fired(noisy, "volume_low"), [3.5], tol=0.1)
    quiet_line = run_session(speech + noise(8, level_dbfs=-62.0), noise(8), pack=pack)
    assert fired(quiet_line, "volume_low") == []


# --- agitation --------------------------------------------------------------------------------


def test_agitation_fires_when_pitch_and_level_rise_over_the_customers_baseline() -> None:
    customer = spans(32, [(1.0, 11.0, CALM), (11.0, 20.0, ANGRY), (20.0, 31.0, CALM)])
    ev = run_session(noise(32), customer)
    # the 2 s window's level mean is +5 dB over baseline once ~70 % of it is angry (pitch
    # median: 50 %), i.e. 11.0 + ~1.4 s; then it must hold 2 s
    assert near(fired(ev, "agitation"), [14.4], tol=0.25)
    (prompt,) = of_type(ev, "prompt", rule="agitation")
    assert prompt.data.severity == "alert"
    assert prompt.data.text == "Customer agitated — stay calm, empathise"
    assert prompt.data.evidence["pitch_st"] > 5.0 and prompt.data.evidence["level_db"] > 5.0
    # calm again from 20 s: the window's level mean is under +5 dB within ~0.5 s (the
    # baseline crept up ~1 dB while they shouted), then it must stay calm 4 s
    ((t, reason),) = cleared(ev, "agitation")
    assert reason == "condition_ended" and 24.2 <= t <= 24.8
    moods = [(m.t, m.data.mood) for m in of_type(ev, "meters")]
    assert dict(moods)[16.0] == "agitated" and dict(moods)[10.0] == "calm"


def test_loud_alone_or_high_alone_is_not_agitation() -> None:
    louder = spans(22, [(1.0, 11.0, CALM), (11.0, 21.0, {"f0": 140.0, "level_dbfs": -12.0})])
    higher = spans(22, [(1.0, 11.0, CALM), (11.0, 21.0, {"f0": 200.0, "level_dbfs": -20.0})])
    for customer in (louder, higher):
        assert fired(run_session(noise(22), customer), "agitation") == []


def test_agitation_does_not_flood_within_its_cooldown() -> None:
    customer = spans(
        50, [(1.0, 11.0, CALM), (11.0, 20.0, ANGRY), (20.0, 31.0, CALM), (31.0, 40.0, ANGRY)]
    )
    ev = run_session(noise(50), customer)
    assert len(fired(ev, "agitation")) == 1  # second episode inside the 60 s cooldown


# --- agent_escalating -------------------------------------------------------------------------

RAISED = {"f0": 190.0, "level_dbfs": -13.0}  # agent +5.3 semitones, +7 dB


def escalation_call(customer_angry: bool) -> tuple[np.ndarray, np.ndarray]:
    customer_voice = ANGRY if customer_angry else CALM
    customer = spans(30, [(0.5, 6.5, CALM), (13.5, 20.0, customer_voice)], seed=3)
    agent = spans(30, [(7.0, 13.0, CALM), (20.5, 27.0, RAISED)], seed=7)
    return agent, customer


def test_agent_escalating_when_the_agent_raises_their_voice_at_an_agitated_customer() -> None:
    ev = run_session(*escalation_call(customer_angry=True))
    assert len(fired(ev, "agitation")) == 1
    # the agent's window holds only raised speech: it counts once 0.5 s of it is voiced
    # (onset 20.5 + 40 ms to confirm speech + 0.5 s), then it must hold 1.5 s
    assert near(fired(ev, "agent_escalating"), [22.54], tol=0.1)
    (prompt,) = of_type(ev, "prompt", rule="agent_escalating")
    assert (
        prompt.data.text == "Stay calm — keep your voice level" and prompt.data.severity == "alert"
    )
    ((t, reason),) = cleared(ev, "agent_escalating")
    assert reason in ("condition_ended", "call_ended")


def test_a_raised_agent_voice_with_a_calm_customer_is_not_escalation() -> None:
    ev = run_session(*escalation_call(customer_angry=False))
    assert fired(ev, "agent_escalating") == fired(ev, "agitation") == []


# --- rule-pack errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("detector", "params", "message"),
    [
        ("pace", "max_wpm = 0", "max_wpm must be > 0"),
        ("pace", 'max_wpm = 200\nspeaker = "everyone"', "speaker must be"),
        ("pace", "max_wpm = 200\nrelease_wpm = -5", "hold_s must be >= 0"),
        ("level", "min_dbfs = -10.0\nmax_dbfs = -20.0", "need min_dbfs < max_dbfs <= 0"),
        ("level", "min_snr_db = -3.0", "must be >= 0"),
        ("level", "max_dbfs = true", "params.max_dbfs: expected a number"),
        ("elevated_voice", "pitch_st = 3.0", "params.level_db: missing"),
        ("elevated_voice", "pitch_st = 3.0\nlevel_db = 0", "level_db must be > 0"),
        ("elevated_voice", "pitch_st = 3\nlevel_db = 5\nhold_s = -1", "must be >= 0"),
        (
            "escalating",
            "pitch_st = 2\nlevel_db = 3\nother_pitch_st = 3",
            "params.other_level_db: missing",
        ),
        (
            "escalating",
            "pitch_st = 2\nlevel_db = 3\nother_pitch_st = 3\nother_level_db = 5\nmemory = 3",
            "params.memory: unknown param",
        ),
    ],
)
def test_bad_voice_params_are_rule_pack_errors(detector: str, params: str, message: str) -> None:
    with pytest.raises(RulePackError) as err:
        parse_pack(one_rule(detector, params), "p.toml")
    assert message in str(err.value)
    assert str(err.value).startswith("p.toml:")


# --- a normal polite call ---------------------------------------------------------------------


def polite_call(total: float = 150.0) -> tuple[np.ndarray, np.ndarray]:
    """Turn-taking with short gaps, agent backchannels in long customer turns, normal voices."""
    agent_voice = {"f0": 120.0, "level_dbfs": -22.0}
    customer_voice = {"f0": 210.0, "level_dbfs": -24.0}
    a: list[tuple[float, float, dict]] = []  # type: ignore[type-arg]
    c: list[tuple[float, float, dict]] = []  # type: ignore[type-arg]
    t, i = 0.5, 0
    agent_turns = [6.0, 4.5, 8.0, 5.0, 7.0]
    customer_turns = [9.0, 4.0, 14.0, 6.0, 11.0, 3.5]
    while t < total - 15:
        a.append((t, t + agent_turns[i % 5], agent_voice))
        t += agent_turns[i % 5] + 0.8
        ct = customer_turns[i % 6]
        c.append((t, t + ct, customer_voice))
        for k in range(1, int(ct // 6) + 1):  # "mm-hm" every 6 s of customer talk
            a.append((t + 6.0 * k - 0.2, t + 6.0 * k + 0.2, agent_voice))
        t += ct + 1.1
        i += 1
    a.append((t, t + 3.0, agent_voice))  # the agent closes; the call ends 2 s later
    return spans(t + 5.0, a, seed=11), spans(t + 5.0, c, seed=21)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_normal_polite_call_raises_no_prompt_at_all(lang: str) -> None:
    ev = run_session(*polite_call(), lang=lang)
    assert [(e.t, e.data.rule) for e in of_type(ev, "prompt")] == []
    last = of_type(ev, "meters")[-1].data
    assert 0.35 <= last.agent.talk_share <= 0.65  # it really was a conversation
    assert last.mood == "calm"


# --- real speech ------------------------------------------------------------------------------


def espeak(tmp_path, text: str, *args: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    import subprocess

    from assist.runtime.wavio import load_call

    wav = tmp_path / f"{abs(hash((text, args)))}.wav"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", *args, "-w", str(wav), text],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return load_call(agent=wav, customer=wav)[0]


def test_agitation_on_real_speech_over_a_phone_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from phone import phone_line

    calm = espeak(
        tmp_path,
        "I am calling about my bill. I was charged twice for the same purchase last week and "
        "I would like to understand what happened. Could you please check that for me.",
        "-p", "40", "-a", "60",
    )  # fmt: skip
    agent = espeak(tmp_path, "I see. Let me check that for you.", "-p", "35", "-a", "60")
    angry = espeak(
        tmp_path,
        "This is the third time I am calling about this. Nobody has fixed it and I am really "
        "tired of waiting for you people to do something about it.",
        "-p", "75", "-a", "180", "-s", "190",
    )  # fmt: skip
    r = 16000
    t_agent = 0.5 + calm.shape[0] / r + 0.8
    t_angry = t_agent + agent.shape[0] / r + 0.8
    total = t_angry + angry.shape[0] / r + 3.0
    a, c = noise(total, level_dbfs=-50, seed=1), noise(total, level_dbfs=-50, seed=2)
    c[int(0.5 * r) : int(0.5 * r) + calm.shape[0]] += calm
    a[int(t_agent * r) : int(t_agent * r) + agent.shape[0]] += agent
    c[int(t_angry * r) : int(t_angry * r) + angry.shape[0]] += angry
    ev = run_session(phone_line(a), phone_line(c))
    onset = next(
        e.data.at
        for e in of_type(ev, "speech", speaker="customer", state="start")
        if e.data.at >= t_angry - 0.1
    )
    # 0.5 s of voiced evidence + hold 2 s; real speech has pauses, so allow 0.5 s more
    (t,) = fired(ev, "agitation")
    assert onset + 2.5 <= t <= onset + 3.0
    calm_moods = {m.data.mood for m in of_type(ev, "meters") if 7.0 <= m.t < t_angry}
    assert calm_moods == {"calm"}
