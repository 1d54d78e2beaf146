"""Real recorded English speech from Debian's pocketsphinx-testdata (librivox read speech,
spoken commands, tidigits), with reference transcripts, and a word error rate.

A missing package fails loudly (scripts/install-test-deps.sh installs it), never skips.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from assist.core.audio import ANALYSIS_RATE
from assist.runtime.wavio import read_wav, resample

DATA = Path("/usr/share/pocketsphinx/test/data")

# name -> (file relative to DATA, reference transcript); .raw files are 16 kHz 16-bit mono
CLIPS: dict[str, tuple[str, str]] = {
    "goforward": ("goforward.raw", "go forward ten meters"),
    "something": ("something.raw", "go somewhere and do something"),
    "tidigits": ("tidigits/dhd.2934z.raw", "two nine three four zero"),
}
for _i in range(1, 6):
    CLIPS[f"cards-{_i:03d}"] = (f"cards/{_i:03d}.wav", "")
for _i in (870, 880, 890, 920, 930):
    CLIPS[f"librivox-{_i}"] = (f"librivox/sense_and_sensibility_01_austen_64kb-0{_i}.wav", "")


def _reference(name: str, rel: str) -> str:
    if name.startswith("librivox"):
        lines = (DATA / "librivox" / "transcription").read_text().splitlines()
    elif name.startswith("cards"):
        lines = (DATA / "cards" / "cards.transcription").read_text().splitlines()
    else:
        return CLIPS[name][1]
    stem = Path(rel).stem
    line = next(x for x in lines if x.rstrip().endswith(f"({stem})"))
    return " ".join(w for w in line.split() if not w.startswith(("<", "(")))


def clip(name: str) -> tuple[np.ndarray, str]:
    """(16 kHz float32 audio, reference words) of a pocketsphinx-testdata clip."""
    rel, _ = CLIPS[name]
    path = DATA / rel
    assert path.is_file(), f"{path}: install pocketsphinx-testdata (scripts/install-test-deps.sh)"
    if path.suffix == ".raw":
        x = np.frombuffer(path.read_bytes(), "<i2").astype(np.float32) / 32768.0
    else:
        audio, info = read_wav(path)
        x = resample(audio[:, 0], info.sample_rate, ANALYSIS_RATE)
    return x.astype(np.float32), _reference(name, rel)


_SPELL = {"mr": "mister", "mrs": "missus"}


def norm_words(text: str) -> list[str]:
    """Lower case, no punctuation, hyphens split, "Mr." spelt out, and every number as its
    digits one by one ("ten" -> "1 0", "29340" -> "2 9 3 4 0"), so that digits and number
    words compare equal (for WER)."""
    from assist.core.numbers import to_digits

    text = to_digits(text.lower().replace("-", " "), "en")
    text = re.sub(r"(?<=\d)[.,](?=\d)", "", text)
    text = re.sub(r"(\d)", r" \1 ", text)
    return [_SPELL.get(w, w) for w in re.findall(r"[a-z0-9']+", text)]


def wer(ref: str, hyp: str) -> float:
    """Word error rate of `hyp` against `ref` (edit distance over words / reference words)."""
    r, h = norm_words(ref), norm_words(hyp)
    prev = list(range(len(h) + 1))
    for i, rw in enumerate(r, 1):
        cur = [i]
        for j, hw in enumerate(h, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (rw != hw)))
        prev = cur
    return prev[-1] / max(1, len(r))
