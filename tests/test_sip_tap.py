"""The pure parts of the SIP adapter: frame pairing, PCM conversion, the bridge route table."""

from __future__ import annotations

import numpy as np

from assist.core.audio import FRAME_SAMPLES
from sip.supervisor import CALL_ROUTES, changes, routes
from sip.tap import MAX_SKEW_FRAMES, FramePair, pcm_to_float


def _frame(value: float) -> np.ndarray:
    return np.full(FRAME_SAMPLES, value, dtype=np.float32)


def test_frames_are_paired_in_order_whichever_side_comes_first() -> None:
    got: list[tuple[float, float]] = []
    pair = FramePair(lambda a, c: got.append((float(a[0]), float(c[0]))))
    pair.add("agent", _frame(0.1))
    pair.add("customer", _frame(0.2))
    pair.add("customer", _frame(0.4))
    pair.add("agent", _frame(0.3))
    assert np.allclose(got, [(0.1, 0.2), (0.3, 0.4)])


def test_a_side_that_is_not_fed_counts_as_silence() -> None:
    got: list[tuple[np.ndarray, np.ndarray]] = []
    pair = FramePair(lambda a, c: got.append((a, c)))
    for _ in range(MAX_SKEW_FRAMES + 3):
        pair.add("customer", _frame(0.5))
    assert len(got) == 3  # bounded: at most MAX_SKEW_FRAMES wait for their partner
    assert all(not a.any() and c[0] == np.float32(0.5) for a, c in got)


def test_disabled_pair_pushes_nothing() -> None:
    got: list[object] = []
    pair = FramePair(lambda a, c: got.append(a))
    pair.enabled = False
    pair.add("agent", _frame(0.1))
    pair.add("customer", _frame(0.1))
    assert got == []


def test_pcm_to_float_scales_and_pads_to_a_frame() -> None:
    pcm = np.array([0, 16384, -32768], dtype="<i2").tobytes()
    x = pcm_to_float(pcm)
    assert x.dtype == np.float32 and x.shape == (FRAME_SAMPLES,)
    assert x[:3].tolist() == [0.0, 0.5, -1.0] and not x[3:].any()


def test_supervisor_modes_route_audio_like_a_pbx() -> None:
    def hears(mode, who: str) -> set[str]:
        return {src for src, dst in routes(mode) if dst == who}

    assert routes(None) == CALL_ROUTES == routes("off")
    assert hears("listen", "supervisor") == {"customer", "agent"}
    assert "supervisor" not in hears("listen", "ear") | hears("listen", "customer")
    assert "supervisor" in hears("whisper", "ear") and "supervisor" not in hears(
        "whisper", "customer"
    )
    assert "supervisor" in hears("barge", "ear") and "supervisor" in hears("barge", "customer")
    for mode in ("listen", "whisper", "barge"):  # the call and its analysis never change
        assert CALL_ROUTES <= routes(mode)
        assert not {r for r in routes(mode) if r[1].endswith("_tap") and r[0] == "supervisor"}


def test_switching_modes_only_touches_the_supervisor_routes() -> None:
    stop, start = changes(routes("barge"), routes("listen"))
    assert start == [] and stop == [("supervisor", "customer"), ("supervisor", "ear")]
    stop, start = changes(routes("listen"), routes("whisper"))
    assert stop == [] and start == [("supervisor", "ear")]
