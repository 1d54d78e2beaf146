"""The pump owns pjsua2, garbage included: a pjsua2 object caught in a reference cycle is freed
by a collection on the pump thread, never on whichever thread allocated when the collector's
threshold was crossed (pjsua aborts the process: "Calling pjlib from unknown/external thread").
The endpoint runs in a child process (one pjsua2 Endpoint per process; an abort must not take
pytest with it)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from tests.sip_helpers import Proc, tone, write_wav

SCRIPT = textwrap.dedent(
    """
    import gc, sys
    import pjsua2 as pj
    from sip.endpoint import Pump

    WAV = sys.argv[1]

    class Owner:
        def setup(self, ep, port): pass
        def closing(self): pass
        def idle(self): return True
        def failed(self, exc, where): print("failed", where, exc, flush=True)
        def connection_lost(self, reason, remote): pass
        def release(self): gc.collect()

    class Cycle:
        def __init__(self):
            self.me = self
            self.player = pj.AudioMediaPlayer()
            self.player.createPlayer(WAV, pj.PJMEDIA_FILE_NO_LOOP)

    print("collector on at start", gc.isenabled(), flush=True)
    pump = Pump(port=0, bind="127.0.0.1", owner=Owner()).start()
    print("collector on while the pump runs", gc.isenabled(), flush=True)
    kept = []
    for _ in range(20):
        pump.run(lambda: Cycle() and None)  # garbage now: a player in a cycle, made on the pump
        # allocate on this thread until an automatic collection would have run here
        kept.append([[] for _ in range(5 * gc.get_threshold()[0])])
    for _ in range(100):  # the pump catches up with what the thresholds asked for
        if gc.get_count()[0] <= gc.get_threshold()[0]:
            break
        pump.run(lambda: None)
    print("survived", pump.collector.collections, flush=True)
    pump.stop()
    print("collector on after the pump", gc.isenabled(), flush=True)
    """
)


@pytest.mark.timeout(60)
def test_garbage_holding_pjsua2_objects_is_collected_on_the_pump_thread(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "tone.wav", tone(440.0, 0.5))
    proc = Proc([sys.executable, "-c", SCRIPT, str(wav)])
    try:
        assert proc.p.wait(45) == 0, proc.text
    finally:
        proc.kill()
    assert "collector on at start True" in proc.text
    assert "collector on while the pump runs False" in proc.text
    _, m = proc.wait_for(r"^survived \[(\d+), (\d+), (\d+)\]")
    assert int(m[1]) > 0, proc.text  # the pump ran the young generation's collections
    assert "collector on after the pump True" in proc.text
    assert "unknown/external thread" not in proc.text
