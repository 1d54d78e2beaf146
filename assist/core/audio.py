"""Audio constants and helpers shared by every source: frames, PCM conversion, levels.

The core analyses mono float32 frames of FRAME_SAMPLES at ANALYSIS_RATE. Time is derived from
sample counts only, never from a clock.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

ANALYSIS_RATE = 16_000
FRAME_MS = 20
FRAME_SAMPLES = ANALYSIS_RATE * FRAME_MS // 1000  # 320
FRAME_SECONDS = FRAME_MS / 1000

Samples = npt.NDArray[np.float32]


def to_int16_bytes(x: Samples) -> bytes:
    """float32 [-1, 1] -> little-endian 16-bit PCM, clipped (what ASR engines take)."""
    return (np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def frames(x: Samples, frame_samples: int = FRAME_SAMPLES) -> list[Samples]:
    """Split a mono signal into whole frames, zero-padding the last partial one."""
    n = -(-x.shape[0] // frame_samples)
    padded = np.zeros(n * frame_samples, dtype=np.float32)
    padded[: x.shape[0]] = x
    return list(padded.reshape(n, frame_samples))
