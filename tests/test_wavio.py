"""WAV reading: every encoding we claim, and a clear error for everything else."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from assist.core.errors import AudioFileError
from assist.runtime.wavio import load_call, read_wav, write_wav


def wav_bytes(
    samples: bytes,
    *,
    tag: int = 1,
    channels: int = 1,
    rate: int = 16000,
    bits: int = 16,
    extensible: bool = False,
    declared: int | None = None,
) -> bytes:
    block = channels * bits // 8
    if extensible:
        fmt = (
            struct.pack(
                "<HHIIHHHHI", 0xFFFE, channels, rate, rate * block, block, bits, 22, bits, 0
            )
            + struct.pack("<H", tag)
            + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        )
    else:
        fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    size = len(samples) if declared is None else declared
    body = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", size) + samples
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


SINE = np.sin(2 * np.pi * 440 * np.arange(1600) / 16000).astype(np.float32) * 0.5


@pytest.mark.parametrize(
    ("encode", "tag", "bits", "ext"),
    [
        (lambda x: ((x * 127) + 128).astype(np.uint8).tobytes(), 1, 8, False),
        (lambda x: (x * 32767).astype("<i2").tobytes(), 1, 16, False),
        (
            lambda x: b"".join(int(v * 8388607).to_bytes(3, "little", signed=True) for v in x),
            1,
            24,
            False,
        ),
        (lambda x: (x * 2147483647).astype("<i4").tobytes(), 1, 32, False),
        (lambda x: x.astype("<f4").tobytes(), 3, 32, False),
        (lambda x: x.astype("<f8").tobytes(), 3, 64, False),
        (lambda x: x.astype("<f4").tobytes(), 3, 32, True),
        (lambda x: (x * 32767).astype("<i2").tobytes(), 1, 16, True),
    ],
    ids=["u8", "s16", "s24", "s32", "f32", "f64", "f32-ext", "s16-ext"],
)
def test_encodings_decode_to_the_same_signal(tmp_path: Path, encode, tag, bits, ext) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "x.wav"
    p.write_bytes(wav_bytes(encode(SINE), tag=tag, bits=bits, extensible=ext))
    x, info = read_wav(p)
    assert x.shape == (1600, 1) and info.bits == bits
    assert np.max(np.abs(x[:, 0] - SINE)) < (0.02 if bits == 8 else 1e-3)


def test_mulaw_and_alaw(tmp_path: Path) -> None:
    for tag in (6, 7):
        p = tmp_path / f"g711-{tag}.wav"
        codes = bytes(range(256))
        p.write_bytes(wav_bytes(codes, tag=tag, bits=8, rate=8000))
        x, info = read_wav(p)
        assert info.fmt in ("alaw", "mulaw") and x.shape == (256, 1)
        assert 0.9 < np.max(np.abs(x)) <= 1.0


def test_mulaw_writer_round_trips_through_the_reader(tmp_path: Path) -> None:
    x = np.stack([SINE, -SINE * 0.01], 1)
    write_wav(tmp_path / "u.wav", x, 16000, mulaw=True)
    y, info = read_wav(tmp_path / "u.wav")
    assert info.fmt == "mulaw" and info.bits == 8 and y.shape == x.shape
    assert (tmp_path / "u.wav").stat().st_size == 44 + x.size
    # mu-law: the error is at most half a step, and steps grow with the level (~3 %)
    assert np.all(np.abs(y - x) <= 0.035 * np.abs(x) + 1e-4)


def test_truncated_data_is_read_up_to_the_last_whole_frame(tmp_path: Path) -> None:
    p = tmp_path / "cut.wav"
    pcm = (SINE * 32767).astype("<i2").tobytes()
    p.write_bytes(wav_bytes(pcm, declared=len(pcm) * 4, channels=2)[:-1])
    x, info = read_wav(p)
    assert info.truncated and x.shape == ((len(pcm) - 1) // 4, 2)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty file"),
        (b"hello world, not audio at all", "not a WAV file"),
        (b"RIFF\x00\x00\x00\x00WAVE", "no fmt chunk"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00", "truncated fmt chunk"),
        (wav_bytes(b"")[:-8], "no data chunk"),
        (wav_bytes(b""), "no audio samples"),
        (wav_bytes(b"\x00" * 64, tag=0x55, bits=16), "unsupported WAV encoding"),
        (wav_bytes(b"\x00" * 64, bits=12), "unsupported WAV encoding"),
        (wav_bytes(b"\x00" * 64, rate=0), "unsupported sample rate"),
    ],
)
def test_bad_files_raise_one_clear_error(tmp_path: Path, content: bytes, problem: str) -> None:
    p = tmp_path / "bad.wav"
    p.write_bytes(content)
    with pytest.raises(AudioFileError) as err:
        read_wav(p)
    assert problem in str(err.value) and str(p) in str(err.value)


def test_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(AudioFileError, match="no such file"):
        read_wav(tmp_path / "nope.wav")
    with pytest.raises(AudioFileError, match="directory"):
        read_wav(tmp_path)


def test_load_call_resamples_and_splits_channels(tmp_path: Path) -> None:
    rate = 44100
    t = np.arange(rate) / rate
    stereo = np.stack([np.sin(2 * np.pi * 300 * t) * 0.3, np.zeros_like(t)], 1)
    p = tmp_path / "call.wav"
    write_wav(p, stereo, rate)
    a, c, _ = load_call(p)
    assert a.shape == c.shape and abs(a.shape[0] - 16000) <= 2
    assert np.sqrt(np.mean(a**2)) == pytest.approx(0.3 / np.sqrt(2), rel=0.05)
    assert np.max(np.abs(c)) < 1e-3
    a2, c2, _ = load_call(p, agent_channel=1)
    assert np.array_equal(a2, c) and np.array_equal(c2, a)


def test_load_call_from_two_files_pads_the_shorter(tmp_path: Path) -> None:
    write_wav(tmp_path / "a.wav", np.full(8000, 0.1), 8000)
    write_wav(tmp_path / "b.wav", np.full((4000, 2), 0.1), 16000)
    a, c, _ = load_call(agent=tmp_path / "a.wav", customer=tmp_path / "b.wav")
    assert a.shape == c.shape == (16000,)


def test_mono_call_is_rejected_with_a_hint(tmp_path: Path) -> None:
    write_wav(tmp_path / "m.wav", np.zeros(800), 8000)
    with pytest.raises(AudioFileError, match="mono WAV"):
        load_call(tmp_path / "m.wav")
