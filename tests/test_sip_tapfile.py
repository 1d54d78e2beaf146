"""The tap reader: tailing the WAV files pjmedia's writers fill, pairing, freeing, dropping.

A fake writer behaves like pjmedia's (header first with sizes 0, data in 4096-byte steps that
cut frames in two, the header filled in at close), so these run without pjsua2.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from waits import wait_until

from assist.core.audio import FRAME_SAMPLES
from sip.tapfile import (
    FRAME_BYTES,
    MAX_BEHIND_FRAMES,
    PUNCH_EVERY,
    SKEW_FRAMES,
    TAP_DIR_PREFIX,
    TailFile,
    TapReader,
    TapStream,
    tap_dir,
)

CHUNK = 4096
_OUT: dict[str, Any] = {"capture_output": True, "text": True, "check": True}


def _header(data: int) -> bytes:
    fmt = (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + (16000).to_bytes(4, "little")
    fmt += (32000).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
    riff = (36 + data if data else 0).to_bytes(4, "little")
    return (
        b"RIFF"
        + riff
        + b"WAVEfmt "
        + (16).to_bytes(4, "little")
        + fmt
        + b"data"
        + (data.to_bytes(4, "little"))
    )


class FakeWriter:
    """pjmedia's WAV writer as the reader sees it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.f = open(path, "wb", buffering=0)  # noqa: SIM115 - closed in close()
        self.pending = _header(0)
        self.data = 0

    def frame(self, value: int) -> None:
        self.pending += np.full(FRAME_SAMPLES, value, dtype="<i2").tobytes()
        self.data += FRAME_BYTES
        while len(self.pending) >= CHUNK:
            self.f.write(self.pending[:CHUNK])
            self.pending = self.pending[CHUNK:]

    def close(self) -> None:
        self.f.write(self.pending)
        self.f.seek(0)
        self.f.write(_header(self.data))
        self.f.close()


def _pair(tmp_path: Path) -> tuple[FakeWriter, FakeWriter, TapStream, list[tuple[int, int]]]:
    wa, wc = FakeWriter(tmp_path / "a.wav"), FakeWriter(tmp_path / "c.wav")
    got: list[tuple[int, int]] = []

    def push(a: np.ndarray, c: np.ndarray) -> None:
        assert a.shape == c.shape == (FRAME_SAMPLES,)
        got.append((round(float(a[0]) * 32768), round(float(c[0]) * 32768)))

    return wa, wc, TapStream(TailFile(wa.path), TailFile(wc.path), push), got


def test_whole_frames_only_and_paired_by_index_whichever_file_is_ahead(tmp_path: Path) -> None:
    wa, wc, stream, got = _pair(tmp_path)
    assert stream.poll() == 0  # nothing flushed yet: not even the header
    for i in range(1, 40):
        wa.frame(i)
        if i < 30:  # the customer's writer flushed less so far (a read between two flushes)
            wc.frame(-i)
    stream.poll()
    assert got and all(c == -a for a, c in got)  # frame i with frame i, never shifted
    assert [a for a, _ in got] == list(range(1, len(got) + 1))
    for i in range(30, 40):
        wc.frame(-i)
    wa.close()
    wc.close()
    stream.poll(final=True)
    assert got == [(i, -i) for i in range(1, 40)]
    assert stream.frames == 39 and stream.dropped == 0


def test_read_audio_is_freed_so_memory_stays_bounded(tmp_path: Path) -> None:
    wa, wc, stream, got = _pair(tmp_path)
    for _ in range(4):
        for i in range(PUNCH_EVERY // FRAME_BYTES + 1):
            wa.frame(i % 1000)
            wc.frame(-(i % 1000))
        stream.poll()
    size = stream.agent.path.stat().st_size
    assert size > 3 * PUNCH_EVERY
    assert stream.agent.allocated() <= PUNCH_EVERY + 2 * CHUNK  # unread part and the header
    assert stream.customer.allocated() <= PUNCH_EVERY + 2 * CHUNK
    assert len(got) == stream.frames and stream.dropped == 0


def test_a_reader_far_behind_drops_the_oldest_on_both_sides_alike(tmp_path: Path) -> None:
    wa, wc, stream, got = _pair(tmp_path)
    dropped: list[int] = []
    stream.on_drop = dropped.append
    total = MAX_BEHIND_FRAMES + 100
    for i in range(total):
        wa.frame(i)
        wc.frame(-i)
    wa.close()
    wc.close()
    stream.poll(final=True)
    assert dropped == [100] and stream.dropped == 100
    assert got == [(i, -i) for i in range(100, total)]  # the newest, still aligned


def test_a_side_that_is_not_written_counts_as_silence(tmp_path: Path) -> None:
    wa, _, stream, got = _pair(tmp_path)
    for i in range(1, SKEW_FRAMES + 20):
        wa.frame(i)
    stream.poll()
    assert len(got) >= SKEW_FRAMES and all(c == 0 for _, c in got)
    assert [a for a, _ in got] == list(range(1, len(got) + 1))


def test_reader_thread_reads_closed_files_to_the_end_then_deletes_them(tmp_path: Path) -> None:
    wa, wc, stream, got = _pair(tmp_path)
    messages: list[str] = []
    reader = TapReader(poll_s=0.005, failed=messages.append).start()
    try:
        reader.add(stream)
        for i in range(1, 21):
            wa.frame(i)
            wc.frame(-i)
        done = threading.Event()
        reader.close(stream, done.set)  # the writers close a little later (next clock tick)
        time.sleep(0.05)
        for i in range(21, 26):
            wa.frame(i)
            wc.frame(-i)
        wa.close()
        wc.close()
        assert done.wait(5.0)
    finally:
        left = reader.stop()
    assert got == [(i, -i) for i in range(1, 26)] and not messages and not left
    assert not wa.path.exists() and not wc.path.exists()


def test_a_broken_tap_file_is_reported_and_its_call_still_ends(tmp_path: Path) -> None:
    wa, wc, stream, _ = _pair(tmp_path)
    wa.f.write(b"not a wav file at all" * 10)
    messages: list[str] = []
    reader = TapReader(poll_s=0.005, failed=messages.append).start()
    try:
        reader.add(stream)
        wait_until(lambda: messages, 5, 0.01, "the broken file reported")
        done = threading.Event()
        reader.close(stream, done.set)  # already gone: `then` runs at once
        assert done.is_set()
    finally:
        reader.stop()
    assert messages and "not a PCM WAV file" in messages[0]
    wc.close()


def test_any_failure_in_one_call_loses_that_call_alone_and_says_so(tmp_path: Path) -> None:
    """A push that raises something else than OSError/ValueError (a bug downstream) used to
    end the reader thread: every call's analysis went silent while the calls went on."""
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    wa, wc, broken, _ = _pair(tmp_path / "one")
    xa, xc, fine, got = _pair(tmp_path / "two")

    def push(a: np.ndarray, c: np.ndarray) -> None:
        raise RuntimeError("analysis blew up")

    broken.push = push
    lost: list[str] = []
    broken.on_fail = lost.append
    messages: list[str] = []
    reader = TapReader(poll_s=0.005, failed=messages.append).start()
    try:
        reader.add(broken)
        reader.add(fine)
        for i in range(1, 200):
            for w in (wa, wc, xa, xc):
                w.frame(i)
        wait_until(lambda: lost and len(got) >= 150, timeout=5.0, poll=0.005)
        for i in range(200, 400):  # the reader goes on for the other call
            xa.frame(i)
            xc.frame(i)
        wait_until(lambda: len(got) >= 350, timeout=5.0, poll=0.005)
        assert reader.alive and reader.died is None
    finally:
        reader.stop()
    assert messages == lost == ["call audio tap a.wav: RuntimeError('analysis blew up')"]
    assert not wa.path.exists()  # the broken call's files are gone


def test_a_reader_thread_that_dies_says_so_once(tmp_path: Path) -> None:
    _, _, stream, _ = _pair(tmp_path)
    messages: list[str] = []
    reader = TapReader(poll_s=0.005, failed=messages.append)

    def step(s: TapStream) -> None:
        raise SystemExit("killed")  # not an Exception: past the per-call guard

    reader._step = step  # type: ignore[method-assign]
    reader.start()
    reader.add(stream)
    wait_until(lambda: not reader.alive, timeout=5.0, poll=0.005)
    reader.stop()
    assert isinstance(reader.died, SystemExit)
    assert messages == [
        "the call audio reader stopped (SystemExit('killed')); no call is analysed any more"
    ]


def test_tap_dir_is_on_tmpfs_when_there_is_one() -> None:
    d = tap_dir()
    try:
        if Path("/dev/shm").is_dir():
            assert d.parent == Path("/dev/shm")
        assert d.is_dir() and not any(d.iterdir())
    finally:
        d.rmdir()


def test_tap_dirs_of_processes_that_are_gone_are_removed() -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], **_OUT)
    first = tap_dir()
    first.rmdir()
    stale = first.parent / f"{TAP_DIR_PREFIX}{int(dead.stdout)}-x"
    stale.mkdir()
    (stale / "call-agent_tap.wav").write_bytes(b"\0" * 100)
    mine = tap_dir()  # a second phone in this process: its own, and the first one's, stay
    other = tap_dir()
    try:
        assert not stale.exists() and mine.exists() and other.exists()
        assert mine.name.startswith(f"{TAP_DIR_PREFIX}{os.getpid()}-")
    finally:
        mine.rmdir()
        other.rmdir()


def test_a_file_that_is_not_there_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        TailFile(tmp_path / "missing.wav")
