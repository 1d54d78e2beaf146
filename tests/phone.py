"""Phone-line helpers for tests: G.711 mu-law at 8 kHz, as a softphone or a WAV file carries it.

`phone_line(x)` takes 16 kHz float audio down the same path a mu-law call takes through the
WAV reader: resample to 8 kHz, quantise to mu-law codes, decode, resample back to 16 kHz.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from assist.core.audio import ANALYSIS_RATE
from assist.runtime.wavio import _g711_table, resample

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


# --- phone-like test calls --------------------------------------------------------------------
# Each call is a list of (speaker, start_s, end_s, voice) spans plus, per cue, the audio time
# at which the audio meets the rule's threshold (from the rule's params in the built-in pack).
# Voices are speechlike() keywords; every call goes down an 8 kHz mu-law line with -50 dBFS
# noise on both channels.

CALM = {"f0": 140.0, "level_dbfs": -20.0}
ANGRY = {"f0": 205.0, "level_dbfs": -11.0}  # +6.6 semitones, +9 dB
AGENT = {"f0": 115.0, "level_dbfs": -21.0}
RAISED = {"f0": 165.0, "level_dbfs": -13.0}  # agent +6.3 semitones, +8 dB
EVIDENCE_S = 0.5 + 0.04  # a voice measure needs 0.5 s of voiced speech (+40 ms to confirm it)

Span = tuple[str, float, float, dict]  # type: ignore[type-arg]

PHONE_CALLS: dict[str, tuple[float, list[Span], dict[str, float]]] = {
    # name: (duration, spans, {rule: threshold time})
    "silences": (
        24.0,
        [("agent", 0.5, 2.5, AGENT), ("customer", 12.0, 13.5, CALM), ("agent", 20.5, 22.0, AGENT)],
        {"customer_silence": 2.5 + 8.0, "agent_silence": 13.5 + 5.0},
    ),
    "overtalk": (
        10.0,
        [("customer", 1.0, 9.0, CALM), ("agent", 4.0, 7.5, AGENT)],
        {"overtalk": 4.0 + 1.5},
    ),
    "no_backchannel": (
        30.0,
        [("customer", 0.5, 28.0, CALM), ("agent", 5.0, 5.4, AGENT)],
        {"no_backchannel": 5.4 + 20.0},
    ),
    "monologue": (
        66.0,
        [("agent", 1.0, 20.0, AGENT), ("agent", 20.7, 40.0, AGENT), ("agent", 40.6, 65.0, AGENT)],
        # 60 s of agent stretch; and by then 60 s of speech, all the agent's: talk_ratio too
        {"long_monologue": 1.0 + 60.0, "talk_ratio": 1.0 + 60.0 + 0.7 + 0.6},
    ),
    "pace": (
        9.0,
        [("agent", 1.0, 8.5, {**AGENT, "syllable_hz": 3.5})],  # 7 syllables/s: 280 wpm
        {"pace_fast": 1.0 + 3.0 + 2.0},  # judged once 3 s of speech are heard, held 2 s
    ),
    "volume": (
        14.0,
        [
            ("agent", 1.0, 6.0, {**AGENT, "level_dbfs": -38.0}),
            ("agent", 8.0, 13.0, {**AGENT, "level_dbfs": -5.0}),
        ],
        {"volume_low": 1.0 + EVIDENCE_S + 2.0, "volume_high": 8.0 + EVIDENCE_S + 2.0},
    ),
    "agitation": (
        28.0,
        [
            ("customer", 0.5, 9.0, CALM),
            ("agent", 9.5, 14.0, AGENT),
            ("customer", 14.5, 22.0, ANGRY),
            ("agent", 22.5, 27.5, RAISED),
        ],
        {
            "agitation": 14.5 + EVIDENCE_S + 2.0,  # hold_s 2
            "agent_escalating": 22.5 + EVIDENCE_S + 1.5,  # hold_s 1.5
        },
    ),
}


def phone_call(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The (agent, customer) signals of PHONE_CALLS[name] at 16 kHz, before the phone line."""
    from conftest import noise, speechlike  # the seeded generators the other tests use

    total, spans, _ = PHONE_CALLS[name]
    out = {
        "agent": noise(total, level_dbfs=-50.0, seed=71),
        "customer": noise(total, level_dbfs=-50.0, seed=72),
    }
    for i, (who, a, b, voice) in enumerate(spans):
        s = speechlike(b - a, seed=300 + i, **voice)
        i0 = int(round(a * ANALYSIS_RATE))
        out[who][i0 : i0 + s.shape[0]] += s
    return out["agent"], out["customer"]


def write_phone_calls(folder: str | Path) -> list[Path]:
    """Write every PHONE_CALLS entry as `<name>.wav` (stereo: agent, customer) in `folder`."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    paths = []
    for name in PHONE_CALLS:
        path = Path(folder) / f"{name}.wav"
        write_mulaw_wav(path, list(phone_call(name)))
        paths.append(path)
    return paths
