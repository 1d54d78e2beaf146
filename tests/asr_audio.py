"""Speech made at test time with espeak-ng (a missing espeak-ng fails loudly, never skips)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from assist.runtime.wavio import read_wav, resample


def say(text: str, voice: str, *, wpm: int = 130, rate: int = 16_000, pad_s: float = 1.0):
    """`text` spoken by espeak-ng `voice`, at `rate`, peak 0.5, with `pad_s` silence around."""
    exe = shutil.which("espeak-ng")
    assert exe, "espeak-ng is required (scripts/install-test-deps.sh installs it)"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "s.wav"
        subprocess.run([exe, "-v", voice, "-s", str(wpm), "-w", str(out), text], check=True)
        x, info = read_wav(out)
    y = resample(x[:, 0], info.sample_rate, rate)
    y = y / float(np.max(np.abs(y))) * 0.5
    pad = np.zeros(int(pad_s * rate), np.float32)
    return np.concatenate([pad, y.astype(np.float32), pad]), y.shape[0] / rate
