"""Property tests of the WAV reader: any bytes either decode to sane audio or raise AudioFileError.

Inputs: arbitrary bytes, valid files of every supported encoding with random header fields,
and valid files with bytes flipped, cut or spliced in. Nothing else may escape, and what does
decode is finite, in [-1, 1], shaped (frames, channels) as the header says.
"""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assist.core.errors import AudioFileError
from assist.runtime.wavio import read_wav

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TMP = Path(tempfile.mkdtemp(prefix="fuzz-wav-"))


def check(raw: bytes) -> None:
    path = TMP / "f.wav"
    path.write_bytes(raw)
    try:
        x, info = read_wav(path)
    except AudioFileError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
        return
    assert x.dtype == np.float32 and x.shape == (info.frames, info.channels)
    assert info.frames >= 1 and 1 <= info.channels
    assert np.isfinite(x).all() and float(np.abs(x).max()) <= 1.0


def wav(tag: int, channels: int, rate: int, bits: int, body: bytes, *, ext: bool = False) -> bytes:
    align = max(1, channels * bits // 8)
    byte_rate, align = (rate * align) & 0xFFFFFFFF, align & 0xFFFF
    fmt = struct.pack("<HHIIHH", 0xFFFE if ext else tag, channels, rate, byte_rate, align, bits)
    if ext:
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", tag) + b"\x00" * 14
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    chunks += b"data" + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


@st.composite
def valid_wavs(draw: st.DrawFn) -> bytes:
    tag, bits = draw(
        st.sampled_from(
            [(1, 8), (1, 16), (1, 24), (1, 32), (3, 32), (3, 64), (6, 8), (7, 8)] * 3
            + [(draw(st.integers(0, 0xFFFF)), draw(st.sampled_from([0, 4, 8, 12, 16, 64])))]
        )
    )
    sane = draw(st.integers(0, 3)) > 0  # three in four headers are plausible
    channels = draw(st.integers(1, 3) if sane else st.integers(0, 0xFFFF))
    rate = draw(st.sampled_from([8000, 16000, 44100]) if sane else st.integers(0, 2**32 - 1))
    frames = draw(st.integers(1 if sane else 0, 64))
    width = max(1, bits // 8)
    size = min(4096, frames * width * min(channels, 8))
    body = draw(st.binary(min_size=size if sane else 0, max_size=size))
    return wav(tag, channels, rate, bits, body, ext=draw(st.booleans()))


@st.composite
def mutated_wavs(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(valid_wavs()))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "cut", "splice", "size"]))
        if op == "flip" and raw:
            i = draw(st.integers(0, len(raw) - 1))
            raw[i] = draw(st.integers(0, 255))
        elif op == "cut":
            raw = raw[: draw(st.integers(0, len(raw)))]
        elif op == "splice":
            i = draw(st.integers(0, len(raw)))
            raw[i:i] = draw(st.binary(max_size=16))
        elif op == "size" and len(raw) >= 8:  # a chunk size anywhere: huge, zero, odd
            i = draw(st.integers(0, len(raw) - 4))
            raw[i : i + 4] = struct.pack("<I", draw(st.sampled_from([0, 1, 3, 2**31, 2**32 - 1])))
    return bytes(raw)


@SETTINGS
@given(st.binary(max_size=200))
def test_arbitrary_bytes(raw: bytes) -> None:
    check(raw)


@SETTINGS
@given(st.binary(max_size=100))
def test_bytes_after_a_riff_wave_header(tail: bytes) -> None:
    check(b"RIFF" + struct.pack("<I", len(tail) + 4) + b"WAVE" + tail)


@SETTINGS
@given(valid_wavs())
def test_headers_with_random_fields(raw: bytes) -> None:
    check(raw)


@SETTINGS
@given(mutated_wavs())
def test_mutated_files(raw: bytes) -> None:
    check(raw)


def test_the_generator_makes_files_that_decode() -> None:  # so the mutations start from valid
    body = np.arange(-50, 50, dtype="<i2").tobytes()
    x, info = read_wav_bytes(wav(1, 2, 8000, 16, body))
    assert info.channels == 2 and info.frames == 50 and x[0, 0] == -50 / 32768


def read_wav_bytes(raw: bytes) -> tuple[np.ndarray, object]:
    path = TMP / "ok.wav"
    path.write_bytes(raw)
    x, info = read_wav(path)
    return x, info
