"""Conference-bridge ports that copy a call's two directions into its CallRunner.

`ChannelTap` is an AudioMediaPort at the analysis format (16 kHz mono 16-bit, 20 ms), so the
bridge resamples for us and every frame is FRAME_SAMPLES long. Its onFrameReceived runs on
pjmedia's clock thread and must never block: it converts the frame and hands it to `FramePair`,
which pairs agent and customer frames (the bridge delivers both in the same tick) and calls
`CallRunner.push`, whose queue is bounded and drops the oldest frame.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

import numpy as np
import pjsua2 as pj

from assist.core.audio import ANALYSIS_RATE, FRAME_MS, FRAME_SAMPLES, Samples

MAX_SKEW_FRAMES = 5  # one side this far ahead: the other is silent (not connected), pad it
SILENCE = np.zeros(FRAME_SAMPLES, dtype=np.float32)


def analysis_format() -> pj.MediaFormatAudio:
    fmt = pj.MediaFormatAudio()
    fmt.init(pj.PJMEDIA_FORMAT_PCM, ANALYSIS_RATE, 1, FRAME_MS * 1000, 16)
    return fmt


def pcm_to_float(buf: bytes) -> Samples:
    """16-bit little-endian PCM -> float32 in [-1, 1), exactly FRAME_SAMPLES long."""
    x = np.frombuffer(buf, dtype="<i2").astype(np.float32) / 32768.0
    if x.shape[0] == FRAME_SAMPLES:
        return x
    out = np.zeros(FRAME_SAMPLES, dtype=np.float32)
    out[: min(FRAME_SAMPLES, x.shape[0])] = x[:FRAME_SAMPLES]
    return out


class FramePair:
    """Pairs the agent's and the customer's frames and pushes each pair to `push`."""

    def __init__(self, push: Callable[[Samples, Samples], None]) -> None:
        self._push = push
        self._lock = threading.Lock()
        self._agent: deque[Samples] = deque()
        self._customer: deque[Samples] = deque()
        self.enabled = True

    def add(self, speaker: str, frame: Samples) -> None:
        if not self.enabled:
            return
        with self._lock:
            mine = self._agent if speaker == "agent" else self._customer
            mine.append(frame)
            pairs = []
            while self._agent and self._customer:
                pairs.append((self._agent.popleft(), self._customer.popleft()))
            if len(mine) > MAX_SKEW_FRAMES:  # the other side is not being fed: it is silent
                f = mine.popleft()
                pairs.append((f, SILENCE) if speaker == "agent" else (SILENCE, f))
        for agent, customer in pairs:
            self._push(agent, customer)


class ChannelTap(pj.AudioMediaPort):
    """One direction of a call (agent or customer) into a FramePair.

    Taps are pooled and reused, never deleted while the bridge's clock runs: pjsip 2.14+
    removes conference ports asynchronously, so freeing a Python-owned port right after
    removing it can race the clock thread's next callback.
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        self.speaker = "agent"
        self.pair: FramePair | None = None
        self.frames = 0
        self.createPort(name, analysis_format())

    def attach(self, speaker: str, pair: FramePair | None) -> None:
        self.speaker, self.pair = speaker, pair

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:  # noqa: N802 - pjsua2 override
        pair = self.pair
        if pair is None:
            return
        if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO and frame.size:
            samples = pcm_to_float(bytes(frame.buf))
        else:
            samples = SILENCE
        self.frames += 1
        pair.add(self.speaker, samples)

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:  # noqa: N802 - pjsua2 override
        frame.type = pj.PJMEDIA_FRAME_TYPE_NONE  # a tap is a listener only: it says nothing


class LevelMeter(pj.AudioMediaPort):
    """Records the RMS of everything it receives (tests and diagnostics: what an ear hears)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.chunks: deque[float] = deque(maxlen=5000)  # bounded: 100 s of 20 ms RMS values
        self.createPort(name, analysis_format())

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:  # noqa: N802 - pjsua2 override
        if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO and frame.size:
            x = pcm_to_float(bytes(frame.buf))
            self.chunks.append(float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))))
        else:
            self.chunks.append(0.0)

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:  # noqa: N802 - pjsua2 override
        frame.type = pj.PJMEDIA_FRAME_TYPE_NONE
