"""Phone-line helpers for tests: G.711 mu-law at 8 kHz, as a softphone or a WAV file carries it.

`phone_line(x)` takes 16 kHz float audio down the same path a mu-law call takes through the
WAV reader: resample to 8 kHz, quantise to mu-law codes, decode, resample back to 16 kHz.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from assist.audio import ANALYSIS_RATE, resample
from assist.wavio import _g711_table

PHONE_RATE = 8000
MULAW_TAG = 0x0007

_TABLE = _g711_table("mulaw")
_ORDER = np.argsort(_TABLE, kind="stable")
_SORTED = _TABLE[_ORDER]


def mulaw_encode(x: np.ndarray) -> np.ndarray:
    """Nearest mu-law code (uint8) for each float sample in [-1, 1]."""
    x = np.clip(np.asarray(x, dtype=np.float32), -1.0, 1.0)
    i = np.clip(np.searchsorted(_SORTED, x), 1, len(_SORTED) - 1)
    lower_is_closer = (x - _SORTED[i - 1]) < (_SORTED[i] - x)
    return _ORDER[np.where(lower_is_closer, i - 1, i)].astype(np.uint8)


def phone_line(x: np.ndarray, rate: int = ANALYSIS_RATE) -> np.ndarray:
    """`x` as heard after an 8 kHz mu-law hop, back at `rate`."""
    codes = mulaw_encode(resample(x, rate, PHONE_RATE))
    return resample(_TABLE[codes], PHONE_RATE, rate)


def write_mulaw_wav(
    path: str | Path, channels: list[np.ndarray], rate: int = ANALYSIS_RATE
) -> None:
    """Write equal-length float channels as an 8 kHz G.711 mu-law WAV (format tag 7)."""
    coded = [mulaw_encode(resample(c, rate, PHONE_RATE)) for c in channels]
    n = min(c.shape[0] for c in coded)
    data = np.stack([c[:n] for c in coded], 1).tobytes()
    nch = len(channels)
    fmt = struct.pack("<HHIIHHH", MULAW_TAG, nch, PHONE_RATE, PHONE_RATE * nch, nch, 8, 0)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"fact" + struct.pack("<II", 4, n)
    body += b"data" + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")
    Path(path).write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
