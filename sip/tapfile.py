"""Reading a call's two analysis taps from the WAV files pjmedia's writers fill (no pjsua2 here).

Why files: a tap in Python (an AudioMediaPort) runs on pjmedia's clock thread and needs the
GIL, so any busy Python thread delayed every call's RTP (clicks, issue 12 point 12). The taps
are now pjmedia WAV writers (C): the clock thread appends 16-bit PCM to a file on tmpfs, and
one Python thread (`TapReader`) tails the files. The writer keeps 6 frames in its own buffer
and then stdio's 4 KiB, so the file grows in 4096-byte steps (~128 ms of audio) and the reader
is 120-250 ms behind the bridge (measured): fine for analysis, which never uses the wall clock.
pjsua2's createRecorder cannot make that smaller (enc_type and max_size must be 0; options
only choose PCM/A-law/u-law).

Both writers of a call are listeners of the same bridge and get a frame in every tick (a
silent source feeds both, so a side with no audio still advances), hence frame i of one file
and frame i of the other are the same tick: pairing by index keeps agent and customer aligned.
What was read is freed at once by punching holes into the file (tmpfs and the usual Linux disk
file systems support it), so memory stays bounded without reconnecting ports mid-call.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from assist.core.audio import FRAME_SAMPLES, Samples

HEADER_BYTES = 44  # pjmedia's WAV writer: RIFF + fmt(16) + data chunk header, then PCM
FRAME_BYTES = FRAME_SAMPLES * 2
PAGE = 4096
PUNCH_EVERY = 64 * 1024  # free read audio in 64 KiB steps (2 s), never the header's page
MAX_BEHIND_FRAMES = 250  # 5 s unread: the reader is far behind; older audio is dropped
SKEW_FRAMES = 50  # one file 1 s ahead of the other: that writer is not fed; pair with silence
POLL_S = 0.02
CLOSE_WAIT_S = 1.0  # a destroyed writer closes its file on the next clock tick
TAP_DIR_PREFIX = "softphone-taps-"
MAX_STREAMS = 64  # open call streams (two taps each); the phone has at most 32 calls

SILENCE = np.zeros(FRAME_SAMPLES, dtype=np.float32)

_FALLOC_FL_KEEP_SIZE = 1
_FALLOC_FL_PUNCH_HOLE = 2
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]


def pcm_to_float(buf: bytes) -> Samples:
    """16-bit little-endian PCM -> float32 in [-1, 1), exactly FRAME_SAMPLES long."""
    x = np.frombuffer(buf, dtype="<i2").astype(np.float32) / 32768.0
    if x.shape[0] == FRAME_SAMPLES:
        return x
    out = np.zeros(FRAME_SAMPLES, dtype=np.float32)
    out[: min(FRAME_SAMPLES, x.shape[0])] = x[:FRAME_SAMPLES]
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's
    return True


def punch_hole(fd: int, offset: int, length: int) -> None:
    """Free `length` bytes at `offset` of the file (its size stays); OSError if unsupported."""
    mode = _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE
    if _libc.fallocate(fd, mode, offset, length) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"cannot free read audio in the tap file: {os.strerror(err)}")


def tap_dir() -> Path:
    """A fresh private directory on tmpfs (/dev/shm) if there is one, else in the temp dir.

    Named after this process; those of processes that are gone (killed: no clean exit) are
    removed first, so tmpfs does not fill up across crashes."""
    import shutil
    import tempfile

    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())
    for old in base.glob(f"{TAP_DIR_PREFIX}*-*"):
        pid = old.name[len(TAP_DIR_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    path = Path(tempfile.mkdtemp(prefix=f"{TAP_DIR_PREFIX}{os.getpid()}-", dir=base))
    probe = path / "probe"
    fd = os.open(probe, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.write(fd, b"\0" * 2 * PAGE)
        punch_hole(fd, PAGE, PAGE)  # fail now, not mid-call, where holes cannot be punched
    finally:
        os.close(fd)
        probe.unlink()
    return path


class TailFile:
    """One growing WAV file: its whole frames in order; what was read is punched out."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR)  # punching needs write access
        self.pos = HEADER_BYTES
        self._freed = PAGE  # everything before this offset has been punched (or is header)
        self._checked = False

    def available(self) -> int:
        """Whole frames written and not yet read."""
        size = os.fstat(self._fd).st_size
        if size >= HEADER_BYTES and not self._checked:
            head = os.pread(self._fd, HEADER_BYTES, 0)
            if head[:4] != b"RIFF" or head[36:40] != b"data":
                raise ValueError(f"{self.path} is not a PCM WAV file pjmedia wrote")
            self._checked = True
        return max(0, size - self.pos) // FRAME_BYTES

    def closed_size(self) -> int | None:
        """The file's final length once its writer closed it (the header is filled in then)."""
        head = os.pread(self._fd, HEADER_BYTES, 0)
        if len(head) < HEADER_BYTES:
            return None
        data = int.from_bytes(head[40:44], "little")
        return HEADER_BYTES + data if data else None

    def read(self, frames: int) -> bytes:
        buf = os.pread(self._fd, frames * FRAME_BYTES, self.pos)
        self.skip(len(buf) // FRAME_BYTES)
        return buf

    def skip(self, frames: int) -> None:
        self.pos += frames * FRAME_BYTES
        upto = self.pos // PAGE * PAGE
        if upto - self._freed >= PUNCH_EVERY:
            punch_hole(self._fd, self._freed, upto - self._freed)
            self._freed = upto

    def allocated(self) -> int:
        """Bytes the file really holds (tests: holes are freed)."""
        return os.fstat(self._fd).st_blocks * 512

    def remove(self) -> None:
        os.close(self._fd)
        self.path.unlink(missing_ok=True)


Push = Callable[[Samples, Samples], None]


class TapStream:
    """A call's agent and customer tap files, paired frame by frame into `push`."""

    def __init__(self, agent: TailFile, customer: TailFile, push: Push) -> None:
        self.agent, self.customer, self.push = agent, customer, push
        self.frames = 0  # pairs pushed
        self.dropped = 0  # pairs skipped because the reader was too far behind
        self.on_drop: Callable[[int], None] = lambda n: None
        self.on_fail: Callable[[str], None] = lambda message: None  # its taps are lost
        self.closing_since: float | None = None
        self.then: Callable[[], None] = lambda: None
        self.gone = False  # removed by the reader (read to its end, or failed)

    def poll(self, *, final: bool = False) -> int:
        """Push every pair both files hold (a side not fed pairs with silence); returns pairs."""
        na, nc = self.agent.available(), self.customer.available()
        n = min(na, nc)
        if n > MAX_BEHIND_FRAMES:
            drop = n - MAX_BEHIND_FRAMES
            self.agent.skip(drop)
            self.customer.skip(drop)
            self.dropped += drop
            self.on_drop(drop)
            n, na, nc = MAX_BEHIND_FRAMES, na - drop, nc - drop
        a, c = self.agent.read(n), self.customer.read(n)
        for i in range(0, n * FRAME_BYTES, FRAME_BYTES):
            self.push(pcm_to_float(a[i : i + FRAME_BYTES]), pcm_to_float(c[i : i + FRAME_BYTES]))
        lead = max(na, nc) - n
        if lead > SKEW_FRAMES or (final and lead):
            ahead = self.agent if na > nc else self.customer
            for _ in range(lead):
                x = pcm_to_float(ahead.read(1))
                self.push(*((x, SILENCE) if ahead is self.agent else (SILENCE, x)))
            n += lead
        self.frames += n
        return n

    def closed(self) -> bool:
        return all(f.closed_size() is not None for f in (self.agent, self.customer))

    def remove(self) -> None:
        self.agent.remove()
        self.customer.remove()


class TapReader:
    """The one thread that tails every call's tap files (bounded: MAX_STREAMS at once).

    The SIP thread `add`s a stream when it creates a call's writers and `close`s it after
    destroying them; the reader then reads both files to their end, deletes them and calls
    the stream's `then` (on this thread). Any failure on one stream loses that call's taps
    alone (`failed` line, the stream's `on_fail`); if the thread itself ends early, `died`
    says why and `failed` says so once: the owner decides (`assist sip` stops)."""

    def __init__(self, *, poll_s: float = POLL_S, failed: Callable[[str], None] = print) -> None:
        self.poll_s = poll_s
        self.failed = failed
        self._lock = threading.Lock()
        self._streams: list[TapStream] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sip-taps", daemon=True)
        self.died: BaseException | None = None  # what ended the thread early, if anything

    def start(self) -> TapReader:
        self._thread.start()
        return self

    def add(self, stream: TapStream) -> None:
        with self._lock:
            if len(self._streams) >= MAX_STREAMS:
                raise OSError(errno.EMFILE, "too many open call taps")
            self._streams.append(stream)

    def close(self, stream: TapStream, then: Callable[[], None]) -> None:
        """The writers are destroyed: read to the end, delete, then `then()` (at once if the
        stream is already gone)."""
        with self._lock:
            stream.then = then
            stream.closing_since = time.monotonic()
            gone = stream.gone
        if gone:
            then()

    def stop(self) -> list[TapStream]:
        """Stop reading; the streams still open or closing are removed and handed back."""
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(5.0)
        with self._lock:
            left, self._streams = self._streams, []
            for s in left:
                s.gone = True
        for s in left:
            s.remove()
        return left

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.poll_s):
                with self._lock:
                    streams = list(self._streams)
                for s in streams:
                    try:
                        self._step(s)
                    except Exception as exc:  # noqa: BLE001 - that call's taps, not the rest
                        self._lose(s, exc)
        except BaseException as exc:  # noqa: BLE001 - the owner learns of it (died, failed)
            self.died = exc
            self.failed(f"the call audio reader stopped ({exc!r}); no call is analysed any more")

    def _lose(self, s: TapStream, exc: Exception) -> None:
        """One stream failed (a broken file, a push that raised): report it and drop it."""
        why = str(exc) if isinstance(exc, OSError | ValueError) else repr(exc)
        message = f"call audio tap {s.agent.path.name}: {why}"
        self.failed(message)
        try:
            s.on_fail(message)
        finally:
            self._drop(s)

    def _step(self, s: TapStream) -> None:
        since = s.closing_since
        if since is None:
            s.poll()
            return
        done = s.closed()
        if not done and time.monotonic() - since < CLOSE_WAIT_S:
            s.poll()
            return
        s.poll(final=True)
        self._drop(s)

    def _drop(self, s: TapStream) -> None:
        with self._lock:
            if s in self._streams:
                self._streams.remove(s)
            s.gone = True
            closing = s.closing_since is not None
        s.remove()
        if closing:
            s.then()
