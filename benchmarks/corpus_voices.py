"""Which synthetic voice, and which Whisper decode, hears the corpus's English lines.

    python benchmarks/corpus_voices.py [--voices espeak:en-gb-x-rp festival:... flite:rms]
        [--engines tiny.en tiny.en/beam5 base base/beam5] [--seeds 2] [--tempo 1.0] [--json]

Every synthesised line of scripts/make_corpus.py (agent and customer) is said by each voice
at the corpus's `--tempo` (1.0), put through the corpus's telephone channel (300-3400 Hz,
-20 dBFS speech, -52 dBFS noise, 8 kHz mu-law) with `--seeds` noise draws, and decoded as one
utterance by each engine setting as the second pass does (`WhisperEngine.decode`). Prints,
per voice and engine: word error rate over all lines, lines heard word-perfect, and CPU
seconds per decode (median, process time: the decode's own threads). The recorded customer
clips are not in it: they are real speech already. Needs espeak-ng, festival (+
festvox-us-slt-hts), flite, and the Whisper models `assist models` lists (tiny.en; the
multilingual base from the zh extra).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "scripts")]

import make_corpus as mc  # noqa: E402
from phone import phone_line  # noqa: E402
from speech_clips import norm_words, wer  # noqa: E402

from assist.asr.whisper_engine import WhisperEngine  # noqa: E402
from assist.runtime import models  # noqa: E402
from assist.runtime.wavio import resample  # noqa: E402

VOICES = [
    "espeak:en-gb-x-rp",
    "espeak:en-us+f3",
    "festival:cmu_us_slt_arctic_hts",
    "flite:slt",
    "flite:rms",
    "flite:awb",
]
ENGINES = ["tiny.en", "tiny.en/beam5", "base", "base/beam5"]


def lines() -> list[str]:
    """Every synthesised line of the English corpus, once."""
    out: list[str] = []
    for turns in mc.EN.values():
        for t in turns:
            for part in t.parts:
                kind, _, text = part.partition(":")
                if kind in ("say", "f3") and text not in out:
                    out.append(text)
    return out


def channel(x: np.ndarray, seed: int) -> np.ndarray:
    """A line as the corpus carries it, 16 kHz for Whisper: trimmed, phone band, noise,
    mu-law, with 0.3 s of line noise either side (the second pass's pre-roll and tail)."""
    y = mc._phone(mc._trim(x))
    pad = np.zeros(round(0.3 * mc.RATE), np.float32)
    y = np.concatenate([pad, y, pad])
    rng = np.random.default_rng(seed)
    y = y + rng.normal(0, 10 ** (mc.NOISE_DBFS / 20), y.shape).astype(np.float32)
    return resample(phone_line(y, mc.RATE), mc.RATE, 16_000)


def engine(spec: str) -> WhisperEngine:
    name, _, opt = spec.partition("/")
    beam = int(opt.removeprefix("beam")) if opt else 1
    infos = models.discover_whisper()
    if name == "base":
        info = next((m for m in infos if m.lang == "multi"), None)
    else:
        info = next((m for m in infos if m.name.endswith(name) or m.path.name == name), None)
        info = info or next((m for m in infos if m.lang == "en"), None)
    if info is None:
        raise SystemExit(f"no Whisper model for {spec!r} (assist models)")
    return WhisperEngine(info.path, lang="en", name=spec, beam_size=beam)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voices", nargs="+", default=VOICES)
    ap.add_argument("--engines", nargs="+", default=ENGINES)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--tempo", type=float, default=mc.TEMPO, help="sox tempo (corpus: 0.8)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--show", action="store_true", help="print every line as heard")
    args = ap.parse_args()
    texts = lines()
    audio = {
        (v, i, s): channel(mc.speak(t, v, args.tempo), s)
        for v in args.voices
        for i, t in enumerate(texts)
        for s in range(args.seeds)
    }
    results = []
    for spec in args.engines:
        eng = engine(spec)
        eng.decode(audio[next(iter(audio))])  # warm up
        for v in args.voices:
            errors = words = perfect = 0
            cpu: list[float] = []
            for (vv, i, _), x in audio.items():
                if vv != v:
                    continue
                t0 = time.process_time()
                hyp = eng.decode(x)
                cpu.append(time.process_time() - t0)
                heard = hyp.text if hyp else ""
                n = len(norm_words(texts[i]))
                errors += round(wer(texts[i], heard) * n)
                words += n
                perfect += heard != "" and wer(texts[i], heard) == 0
                if args.show:
                    print(f"{spec:14} {v:32} {texts[i]!r} -> {heard!r}", file=sys.stderr)
            row = {
                "voice": v,
                "engine": spec,
                "wer": round(errors / max(1, words), 3),
                "perfect": perfect,
                "decodes": len(cpu),
                "cpu_s_median": round(statistics.median(cpu), 3),
            }
            results.append(row)
            print(
                f"{spec:14} {v:32} WER {row['wer']:6.1%}  word-perfect {perfect:3}/{len(cpu)}"
                f"  CPU/decode {row['cpu_s_median']:.3f} s",
                flush=True,
            )
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    print(f"load average: {' '.join(load)}")
    if args.json:
        print(json.dumps({"results": results, "loadavg": load}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
