"""The pure parts of the SIP adapter: PCM conversion, the bridge route table, and that no
Python port sits on the media clock (frame pairing: tests/test_sip_tapfile.py)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from assist.core.audio import FRAME_SAMPLES
from sip.supervisor import CALL_ROUTES, changes, routes
from sip.tap import pcm_to_float

ROOT = Path(__file__).resolve().parents[1]


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


def test_no_python_port_sits_on_the_media_clock() -> None:
    """Issue 12 point 12: a Python AudioMediaPort makes pjmedia's clock thread take the GIL
    every tick, delaying every call's RTP. The softphone's taps are C-side WAV writers; no
    module in sip/ may subclass a pjsua2 port class again."""
    ports = {"AudioMediaPort", "AudioMedia", "AudioMediaPlayer", "AudioMediaRecorder"}
    for path in sorted((ROOT / "sip").glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = {ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases}
                assert not bases & ports, f"{path.name}: {node.name} is a Python media port"
            if isinstance(node, ast.Attribute):
                assert node.attr != "AudioMediaPort", f"{path.name}:{node.lineno} AudioMediaPort"


def _peer_gaps(kind: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "sip_clock.py"), "--kinds", kind]
        + ["--conditions", "gil-hold", "--seconds", "3", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    row: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])[kind]["gil-hold"]
    return row


@pytest.mark.timeout(120)
def test_a_thread_holding_the_gil_does_not_stop_the_calls_audio() -> None:
    """A thread keeps the GIL for 1 s at a time (a C call that does not release it) while a
    call to sipp sends RTP: with the softphone's taps (writers + tap reader), the packets the
    peer gets stay ~20 ms apart; with the old Python taps they stop for the whole second."""
    new = _peer_gaps("recorder")
    assert new["packets"] > 100 and new["max_ms"] < 500, new  # a loaded machine: < 0.5 s
    old = _peer_gaps("python")
    assert old["max_ms"] > 900, old  # the check can see the fault it guards against


@pytest.mark.timeout(120)
def test_the_two_tap_files_of_a_call_start_in_the_same_tick() -> None:
    """Frame i of the agent's file is frame i of the customer's, with Python busy: both
    writers are connected in one GIL-held pair (with startTransmit, 6 of 120 starts had one
    file a frame ahead; this catches that fault 3 times in 4 with 25 runs)."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "tap_align.py"), "25"],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["frames"] > 25 * 10 and res["misaligned"] == 0, res
