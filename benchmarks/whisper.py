"""Two-pass English recognition on real recorded speech through a telephone channel: word
error rate of each engine, utterance end -> final transcript latency with 1 and more
simultaneous real-time calls, CPU per call, and the most calls that run in real time here.

    python benchmarks/whisper.py [--json] [--calls 1 2 4 6]

Also by encoder window floor (the utterance padded to at least 5..10 s, or the old 30 s):
WER, CPU per decode and how many short windows looped and were decoded again in 30 s.

Clips: Debian pocketsphinx-testdata (librivox read speech, cards, tidigits, commands), each
down an 8 kHz mu-law line (tests/phone.py). Calls: the clips on both channels with pauses,
speech recognition as `--asr auto` chooses it (here Whisper tiny.en finals in the shared pool),
paced in real time, all calls at once, each from a different point of the conversation.
Latency = a final's event time (audio s, delivered when ready) - the end of the speech it
transcribes (the last voiced frame: the VAD's `speech` stop `at`); finals of speech cut off by
the end of the call are left out. Speculative decodes: started before the VAD's 0.4 s hangover
ran out, and of those, the ones whose utterance did end there (the rest ran for nothing).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from phone import phone_line  # noqa: E402
from speech_clips import CLIPS, clip, wer  # noqa: E402

from assist.asr.sphinx_engine import SphinxEngine  # noqa: E402
from assist.asr.whisper_engine import WhisperEngine  # noqa: E402
from assist.core.audio import FRAME_SAMPLES, to_int16_bytes  # noqa: E402
from assist.core.events import Event  # noqa: E402
from assist.core.session import CallSession  # noqa: E402
from assist.runtime import models  # noqa: E402
from assist.runtime.asr_worker import CallAsr  # noqa: E402
from assist.runtime.demo import play  # noqa: E402
from assist.runtime.packs import default_pack  # noqa: E402
from assist.runtime.runner import CallRunner, ListSink  # noqa: E402

RATE = 16_000
AGENT = ["something", "goforward", "tidigits", "librivox-880", "cards-002"]
CUSTOMER = ["librivox-870", "cards-005", "librivox-890", "librivox-930"]


def padded(x: np.ndarray, s: float = 0.5) -> np.ndarray:
    pad = np.zeros(int(s * RATE), np.float32)
    return np.concatenate([pad, x, pad])


def word_error_rates() -> dict[str, float]:
    """Corpus WER per engine (errors / reference words over all clips)."""
    whisper = models.select_engine("en", asr="whisper").second
    assert whisper is not None
    sphinx = SphinxEngine()
    totals = {"pocketsphinx:en-us": [0.0, 0], whisper.name: [0.0, 0]}
    for name in CLIPS:
        x, ref = clip(name)
        y = phone_line(padded(x))
        n = len(ref.split())
        rec = sphinx.recognizer(RATE)
        hyps = [
            h for i in range(0, y.shape[0], 320) for h in rec.accept(to_int16_bytes(y[i : i + 320]))
        ]
        hyps += rec.flush()
        w = whisper.decode(y)
        for engine, text in (
            ("pocketsphinx:en-us", " ".join(h.text for h in hyps)),
            (whisper.name, w.text if w else ""),
        ):
            totals[engine][0] += wer(ref, text) * n
            totals[engine][1] += n
    out = {k: round(e / n, 3) for k, (e, n) in totals.items()}
    out["vosk"] = "no English Vosk model installed"  # type: ignore[assignment]
    return out


FLOORS = (5.0, 6.0, 8.0, 10.0, 30.0)


def windows() -> dict[str, dict[str, float]]:
    """WER, CPU per decode and 30 s re-decodes (looping short windows) on the clips, by the
    floor the encoder's window is padded to; 30 s is what faster-whisper pads every input to
    (the cost before issue 24)."""
    info = models.find_whisper("en")
    assert info is not None
    clips = [(phone_line(padded(x)), ref) for x, ref in (clip(n) for n in CLIPS)]
    out = {}
    for floor in FLOORS:
        engine = WhisperEngine(info.path, lang="en", name=info.name, min_window_s=floor)
        engine.decode(clips[0][0])  # warm
        engine.retries = 0
        errors, words, cpu = 0.0, 0, []
        for y, ref in clips:
            c0 = time.process_time()
            h = engine.decode(y)
            cpu.append(time.process_time() - c0)
            errors += wer(ref, h.text if h else "") * len(ref.split())
            words += len(ref.split())
        out[f"{floor:g}s"] = {
            "wer": round(errors / words, 3),
            "cpu_s_per_decode_median": round(statistics.median(cpu), 3),
            "cpu_s_all_clips": round(sum(cpu), 2),
            "redecoded_in_30s": engine.retries,
        }
    return out


def decode_cost() -> dict[str, float]:
    whisper = models.select_engine("en", asr="whisper").second
    assert whisper is not None
    x, _ = clip("librivox-870")  # 7 s
    y = phone_line(padded(x))
    whisper.decode(y)
    c0, w0 = time.process_time(), time.perf_counter()
    for _ in range(3):
        whisper.decode(y)
    return {
        "utterance_s": round(y.shape[0] / RATE, 1),
        "wall_s": round((time.perf_counter() - w0) / 3, 3),
        "cpu_s": round((time.process_time() - c0) / 3, 3),
    }


def channel(names: list[str], lead_s: float) -> np.ndarray:
    parts = [np.zeros(int(lead_s * RATE), np.float32)]
    for n in names:
        parts += [clip(n)[0], np.zeros(int(2.5 * RATE), np.float32)]
    return np.concatenate(parts)


def make_call() -> tuple[np.ndarray, np.ndarray]:
    a, c = channel(AGENT, 0.5), channel(CUSTOMER, 1.5)
    n = max(a.shape[0], c.shape[0])
    rng = np.random.default_rng(1)
    out = []
    for x in (a, c):
        x = np.pad(x, (0, n - x.shape[0])) + rng.normal(0, 10 ** (-52 / 20), n).astype(np.float32)
        out.append(phone_line(x.astype(np.float32)))
    return out[0], out[1]


def run_calls(n: int, agent: np.ndarray, customer: np.ndarray) -> dict[str, object]:
    choice = models.select_engine("en")
    sinks = [ListSink() for _ in range(n)]
    runners, asrs = [], []
    for i in range(n):
        r = CallRunner(CallSession(f"c{i}", pack=default_pack("en")), [sinks[i]])
        asrs.append(CallAsr(r, choice.engine, second=choice.second))
        runners.append(r.start())
    c0, w0 = time.process_time(), time.perf_counter()
    # Calls on a floor are not in step: call i plays the same conversation from a different
    # point (rotated by i/n of its length), so utterances end at different moments, as they
    # would; in lockstep every call's utterances would reach the shared pool at once.
    shift = [i * agent.shape[0] // n // FRAME_SAMPLES * FRAME_SAMPLES for i in range(n)]
    threads = [
        threading.Thread(
            target=play,
            args=(np.roll(agent, k), np.roll(customer, k), r),
            kwargs={"speed": 1.0},
        )
        for r, k in zip(runners, shift, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    frames = agent.shape[0] // FRAME_SAMPLES
    for a, r in zip(asrs, runners, strict=True):  # dropped frames never reach the taps
        a.close(until=(frames - r.dropped_total) * FRAME_SAMPLES, timeout=60)
    for r in runners:
        r.finish()
    cpu = time.process_time() - c0
    audio_s = agent.shape[0] / RATE
    lat, lag, drops, first = [], 0, 0, 0
    for s in sinks:
        lat += latencies(s.events)
        lag += sum(1 for e in s.events if e.type == "asr_lagging" and not e.data.recovered)
        drops += sum(e.data.count for e in s.events if e.type == "dropped")
        first += sum(
            1
            for e in s.events
            if e.type == "transcript" and e.data.kind == "final" and e.data.asr_pass == 1
        )
    lat.sort()
    passes = [a.second for a in asrs if a.second is not None]
    return {
        "finals": len(lat),
        "latency_median_s": round(statistics.median(lat), 2) if lat else None,
        "latency_p95_s": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 2) if lat else None,
        "cpu_per_call_pct_of_core": round(100 * cpu / audio_s / n, 1),
        "asr_lagging": lag,
        "first_pass_finals": first,
        "speculative_decodes": sum(p.guesses for p in passes),
        "speculative_decodes_used": sum(p.guesses_used for p in passes),
        "dropped_frames": drops,
        "wall_over_audio": round((time.perf_counter() - w0) / audio_s, 2),
    }


def latencies(events: list[Event]) -> list[float]:
    """Each Whisper final's event time minus the end of its utterance: the VAD stop (its last
    voiced frame) that follows the final's last word. A final with no such stop is not of an
    utterance that ended (the call ended mid-speech, or a long one cut in pieces): left out."""
    out = []
    stops: dict[str, list[float]] = {"agent": [], "customer": []}
    for e in events:
        if e.type == "speech" and e.data.state == "stop":
            stops[e.data.speaker].append(e.data.at)
        elif e.type == "transcript" and e.data.kind == "final" and e.data.asr_pass == 2:
            end = e.data.end if e.data.end is not None else e.t
            mine = [s for s in stops[e.data.speaker] if end - 0.5 <= s <= e.t]
            if mine:
                out.append(e.t - mine[0])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--calls", type=int, nargs="+", default=[1, 2, 4, 6, 8, 10])
    args = ap.parse_args()
    figures: dict[str, object] = {"wer": word_error_rates(), "decode_one_utterance": decode_cost()}
    print(f"WER (phone channel, {len(CLIPS)} clips): {figures['wer']}", flush=True)
    print(f"Whisper tiny.en decode: {figures['decode_one_utterance']}", flush=True)
    figures["windows"] = win = windows()
    for floor, res in win.items():
        print(f"  encoder window >= {floor}: {res}", flush=True)
    agent, customer = make_call()
    runs = {}
    for n in args.calls:
        runs[str(n)] = res = run_calls(n, agent, customer)
        print(f"{n} real-time call(s) at once: {res}", flush=True)
    figures["calls"] = runs
    ok = [int(n) for n, r in runs.items() if not r["asr_lagging"] and not r["dropped_frames"]]
    figures["max_real_time_calls_without_lag"] = max(ok) if ok else 0
    print(f"most calls at once with no lag or drop: {figures['max_real_time_calls_without_lag']}")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
