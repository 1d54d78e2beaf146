"""WAV reading for the demo source: any PCM/float/G.711 WAV, any rate, any channel count.

A small RIFF parser of our own (the stdlib `wave` module rejects float and extensible files)
that turns every problem into an AudioFileError naming the file and the problem. A data chunk
cut short by a truncated file is read up to its last whole frame, so a recording that was cut
off still plays; a header that is cut short is an error.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soxr

from assist.core.audio import ANALYSIS_RATE, Samples
from assist.core.errors import AudioFileError

PCM, IEEE_FLOAT, ALAW, MULAW, EXTENSIBLE = 0x0001, 0x0003, 0x0006, 0x0007, 0xFFFE
MAX_CHANNELS = 64


def resample(x: npt.NDArray[np.floating], src_rate: int, dst_rate: int = ANALYSIS_RATE) -> Samples:
    """Resample a 1-D or (n, channels) float signal with soxr's high-quality filter.

    soxr is a declared dependency: one resampler everywhere, so a WAV of any rate gives the
    same frames on every machine.
    """
    if src_rate <= 0 or dst_rate <= 0:
        raise ValueError("sample rates must be positive")
    x = np.asarray(x, dtype=np.float32)
    if src_rate == dst_rate or x.shape[0] == 0:
        return x
    return np.asarray(soxr.resample(x, src_rate, dst_rate, quality="HQ"), dtype=np.float32)


@dataclass(frozen=True, slots=True)
class WavInfo:
    path: str
    sample_rate: int
    channels: int
    bits: int
    fmt: str  # pcm | float | alaw | mulaw
    frames: int
    truncated: bool


def _g711_table(law: str) -> np.ndarray:
    codes = np.arange(256, dtype=np.int32)
    if law == "mulaw":
        u = ~codes & 0xFF
        sign = u & 0x80
        exponent = (u >> 4) & 0x07
        mantissa = u & 0x0F
        mag = (((mantissa << 3) + 0x84) << exponent) - 0x84
        vals = np.where(sign != 0, -mag, mag)
    else:
        a = codes ^ 0x55
        sign = a & 0x80
        exponent = (a >> 4) & 0x07
        mantissa = a & 0x0F
        mag = np.where(
            exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << (exponent - 1)
        )
        vals = np.where(sign != 0, mag, -mag)
    return (vals / 32768.0).astype(np.float32)


def read_wav(path: str | Path) -> tuple[Samples, WavInfo]:
    """Read a WAV file as float32 of shape (frames, channels) in [-1, 1]."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise AudioFileError(p, "no such file") from None
    except IsADirectoryError:
        raise AudioFileError(p, "is a directory, not a WAV file") from None
    except OSError as exc:
        raise AudioFileError(p, f"cannot read ({exc.strerror})") from None
    if len(raw) == 0:
        raise AudioFileError(p, "empty file")
    if len(raw) < 12 or raw[0:4] not in (b"RIFF", b"RIFX") or raw[8:12] != b"WAVE":
        raise AudioFileError(p, "not a WAV file (no RIFF/WAVE header)")
    if raw[0:4] == b"RIFX":
        raise AudioFileError(p, "big-endian RIFX WAV is not supported")

    fmt: tuple[int, int, int, int] | None = None
    data: bytes | None = None
    declared = 0
    pos = 12
    while pos + 8 <= len(raw):
        cid = raw[pos : pos + 4]
        (size,) = struct.unpack_from("<I", raw, pos + 4)
        body = raw[pos + 8 : pos + 8 + size]
        if cid == b"fmt ":
            if len(body) < 16:
                raise AudioFileError(p, "truncated fmt chunk")
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
            if tag == EXTENSIBLE:
                if len(body) < 40:
                    raise AudioFileError(p, "truncated WAVE_FORMAT_EXTENSIBLE header")
                (tag,) = struct.unpack_from("<H", body, 24)
            fmt = (tag, channels, rate, bits)
        elif cid == b"data":
            data, declared = body, size
            break
        pos += 8 + size + (size & 1)
    if fmt is None:
        raise AudioFileError(p, "no fmt chunk (not a valid WAV)")
    if data is None:
        raise AudioFileError(p, "no data chunk (truncated or empty WAV)")
    tag, channels, rate, bits = fmt
    if channels < 1 or channels > MAX_CHANNELS:
        raise AudioFileError(p, f"invalid channel count {channels}")
    if rate < 1000 or rate > 768_000:
        raise AudioFileError(p, f"unsupported sample rate {rate} Hz")

    if tag == PCM and bits in (8, 16, 24, 32):
        kind = "pcm"
    elif tag == IEEE_FLOAT and bits in (32, 64):
        kind = "float"
    elif tag in (ALAW, MULAW) and bits == 8:
        kind = "alaw" if tag == ALAW else "mulaw"
    else:
        raise AudioFileError(p, f"unsupported WAV encoding (format {tag:#06x}, {bits}-bit)")

    width = bits // 8
    frame_bytes = width * channels
    n = len(data) // frame_bytes
    truncated = len(data) < declared
    if n == 0:
        raise AudioFileError(p, "no audio samples (empty or truncated WAV)")
    buf = data[: n * frame_bytes]
    if kind == "pcm" and bits == 8:
        x = (np.frombuffer(buf, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif kind == "pcm" and bits == 16:
        x = np.frombuffer(buf, "<i2").astype(np.float32) / 32768.0
    elif kind == "pcm" and bits == 24:
        b = np.frombuffer(buf, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v & 0x800000, v - 0x1000000, v)
        x = v.astype(np.float32) / 8388608.0
    elif kind == "pcm":
        x = (np.frombuffer(buf, "<i4").astype(np.float64) / 2147483648.0).astype(np.float32)
    elif kind == "float":
        raw_f = np.frombuffer(buf, "<f4" if bits == 32 else "<f8")
        x = np.nan_to_num(np.clip(raw_f, -1.0, 1.0), nan=0.0).astype(np.float32)
    else:
        x = _g711_table(kind)[np.frombuffer(buf, np.uint8)]
    info = WavInfo(str(p), rate, channels, bits, kind, n, truncated)
    return x.reshape(n, channels), info


def load_call(
    path: str | Path | None = None,
    *,
    agent: str | Path | None = None,
    customer: str | Path | None = None,
    agent_channel: int = 0,
    rate: int = ANALYSIS_RATE,
) -> tuple[Samples, Samples, list[WavInfo]]:
    """Load a call as (agent, customer) mono signals at `rate`.

    Either one file with both parties (channel `agent_channel` is the agent, the other of the
    first two the customer) or two files, one per party (mixed down to mono if needed).
    """
    if path is not None:
        x, info = read_wav(path)
        if info.channels < 2:
            raise AudioFileError(
                path,
                "mono WAV: a call needs two channels (agent, customer); "
                "pass a stereo file or --agent A.wav --customer B.wav",
            )
        if agent_channel not in (0, 1):
            raise AudioFileError(path, f"--agent-channel must be 0 or 1, got {agent_channel}")
        a = x[:, agent_channel]
        c = x[:, 1 - agent_channel]
        return resample(a, info.sample_rate, rate), resample(c, info.sample_rate, rate), [info]
    if agent is None or customer is None:
        raise AudioFileError(agent or customer or "-", "give both --agent and --customer")
    xa, ia = read_wav(agent)
    xc, ic = read_wav(customer)
    a = resample(xa.mean(axis=1), ia.sample_rate, rate)
    c = resample(xc.mean(axis=1), ic.sample_rate, rate)
    n = max(a.shape[0], c.shape[0])
    a = np.pad(a, (0, n - a.shape[0]))
    c = np.pad(c, (0, n - c.shape[0]))
    return a, c, [ia, ic]


def mulaw_encode(x: np.ndarray) -> np.ndarray:
    """float [-1, 1] -> G.711 mu-law bytes (the inverse of the decoder table above)."""
    pcm = (np.clip(np.asarray(x, np.float64), -1, 1) * 32767).astype(np.int32)
    sign = np.where(pcm < 0, 0x80, 0)
    mag = np.minimum(np.abs(pcm), 32635) + 0x84
    exponent = np.floor(np.log2(mag >> 7 | 1)).astype(np.int32).clip(0, 7)
    mantissa = (mag >> (exponent + 3)) & 0x0F
    codes: np.ndarray = (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)
    return codes


def write_wav(path: str | Path, x: np.ndarray, rate: int, *, mulaw: bool = False) -> None:
    """Write float [-1, 1] samples (frames[, channels]) as 16-bit PCM, or 8-bit G.711 mu-law
    (half the size, as phone systems record)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    channels = x.shape[1]
    if mulaw:
        tag, width, body = MULAW, 1, mulaw_encode(x).tobytes()
    else:
        tag, width, body = PCM, 2, (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    fmt = struct.pack(
        "<HHIIHH", tag, channels, rate, rate * width * channels, width * channels, 8 * width
    )
    header = b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(body)) + b"WAVE"
    header += b"fmt " + struct.pack("<I", len(fmt)) + fmt
    header += b"data" + struct.pack("<I", len(body))
    Path(path).write_bytes(header + body)
