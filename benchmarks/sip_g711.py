"""Word cues over real G.711 calls: baresip (PCMU only) calls `assist sip` on loopback and the
customer's sentences must come out as Whisper finals and prompts; the same audio over G.722.

    python benchmarks/sip_g711.py [--calls N] [--codecs PCMU G722] [--json]

Each call (17 s): the agent (`agent_play`, not over the line) greets at 0.5 s and closes
("Thank you for calling, goodbye.") at 13 s without reading a number back; the customer
(baresip's WAV source, so over the codec) says a complaint with a negative phrase at 3.5 s and
a number at 8 s. Call 1's number is real recorded speech (pocketsphinx-testdata tidigits), the
rest is espeak-ng, cycling through three voices. The plugin runs as a user runs it (`--asr
auto`: Whisper tiny.en finals; the call store on, in a temporary file), one process per codec,
the calls one after another.

Figures per codec: word error rate of the customer's final transcripts against the script
(all calls' words), which of the expected cues fired (`negative_phrase` on the complaint,
`confirm_numbers` on the agent's closing), and the latency from the end of the sentence that
triggers a cue to the prompt, in call audio time: the prompt's `t` minus that sentence's end.
A sentence's end is the last 10 ms of its espeak/clip audio within 35 dB of its peak, placed
on the call's clock by the VAD: offset = the first `speech` start of that side minus the
first sentence's onset in the WAV (error: the VAD's onset, a frame or two). Median and p95.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from asr_audio import say  # noqa: E402
from sip_helpers import assist, baresip, events, plugin_config, write_wav  # noqa: E402
from speech_clips import clip, wer  # noqa: E402

from assist.runtime.wavio import resample  # noqa: E402

RATE = 16_000
CALL_S = 17  # baresip hangs up after this long
WAV_S = 19.0
AGENT = [
    (0.5, "Hello, this is Sam. How can I help you?"),
    (13.0, "Thank you for calling, goodbye."),
]
COMPLAINT_AT, NUMBER_AT = 3.5, 8.0
VOICES = [("en-gb", 160), ("en-us", 150), ("en-us+f3", 150)]
SCRIPTS = [  # (complaint with a negative phrase, number: "tidigits" = the recorded clip)
    ("This is ridiculous. I want to cancel my account.", "tidigits"),
    (
        "I have been waiting for an hour and this is unacceptable.",
        "My account number is 4 7 1 9 2.",
    ),
    ("This is the worst service I have ever had.", "The order number is 3 8 5 2 6."),
    ("I want to speak to your manager right now.", "My reference is 9 0 2 7 1."),
    ("I want to make a complaint about my last bill.", "The phone number is 5 5 5 2 1 4 9."),
]
EXPECTED = ("negative_phrase", "confirm_numbers")
CODECS = {"PCMU": ("g711", 8_000), "G722": ("g722", 16_000)}


@dataclass
class Script:
    """One call's customer audio (16 kHz) and what it says, with each sentence's span (s)."""

    voice: str
    audio: np.ndarray
    words: str
    digits: str  # the number the customer gives, as confirm_numbers should name it
    spans: dict[str, tuple[float, float]]  # "complaint" / "number" -> (onset, end) in the WAV


def spoken_span(x: np.ndarray, at: float) -> tuple[float, float]:
    """Onset and end (s) of the sound in `x` placed at `at`: the first and last 10 ms frame
    within 35 dB of its loudest frame."""
    n = RATE // 100
    rms = np.sqrt(np.mean(x[: x.size // n * n].reshape(-1, n) ** 2, axis=1))
    loud = np.flatnonzero(rms > rms.max() * 10 ** (-35 / 20))
    return at + loud[0] / 100, at + (loud[-1] + 1) / 100


def placed(parts: list[tuple[float, np.ndarray]]) -> np.ndarray:
    y = np.zeros(int(WAV_S * RATE), np.float32)
    for at, x in parts:
        i = int(at * RATE)
        y[i : i + x.size] += x[: y.size - i]
    return y


def script(i: int) -> Script:
    complaint, number = SCRIPTS[i % len(SCRIPTS)]
    voice, wpm = VOICES[i % len(VOICES)]
    a, _ = say(complaint, voice, wpm=wpm, pad_s=0)
    if number == "tidigits":
        b, number = clip("tidigits")
        b = b / float(np.max(np.abs(b))) * 0.5
        voice += " + recorded digits"
        digits = "29340"
    else:
        b, _ = say(number, voice, wpm=wpm, pad_s=0)
        digits = "".join(re.findall(r"\d", number))
    spans = {"complaint": spoken_span(a, COMPLAINT_AT), "number": spoken_span(b, NUMBER_AT)}
    audio = placed([(COMPLAINT_AT, a), (NUMBER_AT, b)])
    return Script(f"{voice} {wpm} wpm", audio, f"{complaint} {number}", digits, spans)


def agent_wav(path: Path) -> tuple[Path, dict[str, tuple[float, float]]]:
    parts, spans = [], {}
    for (at, text), name in zip(AGENT, ("greeting", "closing"), strict=True):
        x, _ = say(text, VOICES[0][0], wpm=VOICES[0][1], pad_s=0)
        parts.append((at, x))
        spans[name] = spoken_span(x, at)
    return write_wav(path, placed(parts)), spans


def run_codec(
    codec: str, scripts: list[Script], agent: Path, tmp: Path
) -> tuple[list[list[dict[str, Any]]], dict[str, str]]:
    """One `assist sip` for `codec`, one baresip call per script; the events of each call
    and the codec each call got (from the plugin's `audio codec` lines)."""
    module, rate = CODECS[codec]
    cfg = plugin_config(tmp / f"{codec}.toml", rtp_port=8400, agent_play=str(agent))
    ev = tmp / f"{codec}.jsonl"
    plugin = assist(
        *("sip", "--no-server", "--config", str(cfg), "--events", str(ev)),
        *("--store", str(tmp / f"{codec}.sqlite3")),  # the store on, but not the user's
    )
    try:
        _, m = plugin.wait_for(r"listening on udp port (\d+)", timeout=60)
        for i, s in enumerate(scripts):
            wav = write_wav(tmp / f"{codec}-{i}.wav", resample(s.audio, RATE, rate), rate=rate)
            peer = baresip(
                tmp / f"baresip-{codec}-{i}",
                wav,
                seconds=CALL_S,
                dial=f"sip:agent@127.0.0.1:{m.group(1)}",
                codecs=(module,),
                rate=rate,
                only=codec,
            )
            try:
                deadline = time.monotonic() + CALL_S + 30
                while sum(e["type"] == "call_ended" for e in events(ev)) <= i:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"call {i} over {codec} did not end:\n{plugin.text}")
                    time.sleep(0.2)
            finally:
                peer.kill()
        if plugin.stop() != 0:
            raise SystemExit(f"assist sip failed:\n{plugin.text}")
    finally:
        plugin.kill()
    by_call: dict[str, list[dict[str, Any]]] = {}
    for e in events(ev):
        by_call.setdefault(e["call_id"], []).append(e)
    codecs = dict(re.findall(r"(sip-\w+): audio codec (\S+)", plugin.text))
    return list(by_call.values()), codecs


def measure(
    call: list[dict[str, Any]], s: Script, agent: dict[str, tuple[float, float]]
) -> dict[str, Any]:
    """One call's figures: WER of the customer's finals, cues fired, cue latencies."""
    finals = [
        e["data"]
        for e in call
        if e["type"] == "transcript"
        and e["data"]["kind"] == "final"
        and e["data"]["speaker"] == "customer"
    ]
    heard = " ".join(f["text"] for f in finals)
    starts: dict[str, list[float]] = {"agent": [], "customer": []}
    for e in call:
        if e["type"] == "speech" and e["data"]["state"] == "start":
            starts[e["data"]["speaker"]].append(e["data"]["at"])
    prompts: dict[str, dict[str, Any]] = {}
    for e in call:
        if e["type"] == "prompt":
            prompts.setdefault(e["data"]["rule"], e)
    # each side's WAV on the call clock, by the VAD's start of that side's first sentence
    off_c = starts["customer"][0] - s.spans["complaint"][0] if starts["customer"] else None
    off_a = starts["agent"][0] - agent["greeting"][0] if starts["agent"] else None
    latency = {}
    for rule, (offset, end) in {
        "negative_phrase": (off_c, s.spans["complaint"][1]),
        "confirm_numbers": (off_a, agent["closing"][1]),
    }.items():
        if rule in prompts and offset is not None:
            latency[rule] = round(float(prompts[rule]["t"] - (end + offset)), 2)
    return {
        "voice": s.voice,
        "said": s.words,
        "heard": heard,
        "ref_words": len(s.words.split()),
        "wer": round(wer(s.words, heard), 3),
        "engines": sorted({f"{f['engine']} pass {f['asr_pass']}" for f in finals}),
        "fired": sorted(prompts),
        "missed": [r for r in EXPECTED if r not in prompts],
        "numbers_right": "confirm_numbers" in prompts
        and prompts["confirm_numbers"]["data"]["evidence"]["numbers"] == s.digits,
        "latency_s": latency,
        "offset_s": {"customer": off_c and round(off_c, 2), "agent": off_a and round(off_a, 2)},
        "evidence": {r: prompts[r]["data"]["evidence"] for r in EXPECTED if r in prompts},
    }


def p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(0.95 * len(xs)))]


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    from speech_clips import norm_words

    errors = sum(r["wer"] * len(norm_words(r["said"])) for r in rows)
    ref = sum(len(norm_words(r["said"])) for r in rows)
    out: dict[str, Any] = {
        "calls": len(rows),
        "wer": round(errors / max(1, ref), 3),
        "cues_fired": {c: sum(c in r["fired"] for r in rows) for c in EXPECTED},
        "confirm_numbers_named_the_right_number": sum(r["numbers_right"] for r in rows),
    }
    for cue in EXPECTED:
        lat = [r["latency_s"][cue] for r in rows if cue in r["latency_s"]]
        out[f"{cue}_latency_median_s"] = round(float(statistics.median(lat)), 2) if lat else None
        out[f"{cue}_latency_p95_s"] = round(float(p95(lat)), 2) if lat else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=4, help="calls per codec (default 4)")
    ap.add_argument("--codecs", nargs="+", choices=sorted(CODECS), default=["PCMU", "G722"])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    scripts = [script(i) for i in range(args.calls)]
    figures: dict[str, Any] = {"load_average_start": " ".join(f"{x:.2f}" for x in os.getloadavg())}
    with tempfile.TemporaryDirectory(prefix="sip_g711-") as d:
        tmp = Path(d)
        agent_path, agent = agent_wav(tmp / "agent.wav")
        for codec in args.codecs:
            calls, codecs = run_codec(codec, scripts, agent_path, tmp)
            if len(calls) != len(scripts):
                raise SystemExit(f"{codec}: {len(calls)} calls recorded, {len(scripts)} placed")
            rows = []
            for i, (call, s) in enumerate(zip(calls, scripts, strict=True)):
                got = codecs.get(call[0]["call_id"], "?")
                if not got.startswith(codec):
                    raise SystemExit(f"call {i} negotiated {got}, not {codec}")
                row = measure(call, s, agent)
                rows.append(row)
                print(
                    f"{codec} call {i + 1} ({got}, {row['voice']}): WER {row['wer']:.2f}, "
                    f"fired {row['fired']}, missed {row['missed']}, latency {row['latency_s']}, "
                    f"number named right: {row['numbers_right']}"
                    f"\n    said:  {row['said']}\n    heard: {row['heard']}",
                    flush=True,
                )
            figures[codec] = summary(rows)
            print(f"{codec}: {figures[codec]}", flush=True)
    figures["load_average_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
