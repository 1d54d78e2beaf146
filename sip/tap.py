"""A call's analysis taps on the conference bridge: pjmedia WAV writers, C on the clock thread.

pjmedia's clock thread runs the whole bridge each 20 ms tick, and every call's RTP goes out
from it. A tap in Python (an AudioMediaPort) made that thread take the GIL every tick, so any
busy Python thread delayed all calls' audio and the peers heard clicks (issue 12 point 12,
benchmarks/sip_clock.py). Now each direction of a call goes to an AudioMediaRecorder writing
16 kHz mono PCM into a file in a private tmpfs directory, and `sip.tapfile.TapReader` (one
Python thread) tails the files and pushes agent/customer pairs to the call's runner.

All of this runs on the SIP thread, which owns every pjsua2 object: the writers are created
with the call's leg and destroyed by dropping them in `release()`.
"""

from __future__ import annotations

import ctypes
import wave
from pathlib import Path

import pjsua2 as pj

from assist.core.audio import ANALYSIS_RATE
from sip.tapfile import SILENCE, Push, TailFile, TapStream, pcm_to_float

__all__ = ["SILENCE", "RecorderTaps", "pcm_to_float", "silence_source"]

# pjsua's own connect, called with the GIL held (PyDLL): pjsua2's startTransmit releases the
# GIL around the call, so between two of them a busy Python thread can run and a clock tick
# can apply the first connection without the second. Measured with one busy Python thread:
# 6 of 120 starts had one file a frame ahead with startTransmit, 0 of 240 this way.
_pjsua = ctypes.PyDLL(pj._pjsua2.__file__)
_pjsua.pjsua_conf_connect.argtypes = [ctypes.c_int, ctypes.c_int]
_pjsua.pjsua_conf_connect.restype = ctypes.c_int


def silence_source(directory: Path) -> pj.AudioMediaPlayer:
    """A looping silent player that feeds every tap writer from its start (pump thread).

    In a tick where none of a listener's sources had audio (a stream with no RTP yet, on
    hold), pjmedia hands it a NONE frame, which the WAV writer skips: that file would fall
    behind the other side's and the call's sample-count time would shrink. With this source
    on every writer, each tick adds exactly one frame to each file (adding zeros changes no
    sample)."""
    path = directory / "silence.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(ANALYSIS_RATE)
        w.writeframes(b"\0\0" * ANALYSIS_RATE)
    player = pj.AudioMediaPlayer()
    player.createPlayer(str(path))  # loops
    return player


class RecorderTaps:
    """One call's agent and customer writers and the stream that reads them (pump thread).

    Both writers start together, fed by `silence`, in one pair of back-to-back connects: a
    bridge operation takes effect at the next tick, so they get their first frame in the same
    tick and frame i of one file is frame i of the other from then on (whenever the call's
    own sources are connected)."""

    def __init__(self, directory: Path, name: str, push: Push, silence: pj.AudioMedia) -> None:
        self.ports: dict[str, pj.AudioMediaRecorder] = {}
        files: list[TailFile] = []
        try:
            for end in ("agent_tap", "customer_tap"):
                path = directory / f"{name}-{end}.wav"
                rec = pj.AudioMediaRecorder()
                rec.createRecorder(str(path))  # the bridge's format: 16 kHz mono, 20 ms
                self.ports[end] = rec
                files.append(TailFile(path))
            src = silence.getPortId()
            slots = [rec.getPortId() for rec in self.ports.values()]
            failed = [_pjsua.pjsua_conf_connect(src, slot) for slot in slots]
            if any(failed):
                raise pj.Error(max(failed), "pjsua_conf_connect", "cannot connect a tap", "", 0)
        except BaseException:
            self.ports.clear()  # destroys what was made
            for f in files:
                f.remove()
            raise
        self.stream = TapStream(files[0], files[1], push)

    def release(self) -> TapStream:
        """Destroy the writers (they flush and close their files on the next tick)."""
        self.ports.clear()
        return self.stream
