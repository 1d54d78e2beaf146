"""SipControl from a foreign thread: answer a ringing call (auto_answer off), refuse what cannot
be done with a ControlError, hang up. The softphone runs in a child process (one pjsua2
Endpoint per process) driven by a small script; a pjsua2 peer process is the caller."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import timeline
from tests.sip_helpers import Proc, peer, write_wav

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from sip.config import SipConfig
    from assist.runtime.control import ControlError
    from assist.runtime.packs import default_pack
    from assist.runtime.runner import CallRunner, ListSink
    from assist.core.session import CallSession
    from sip.control import SipControl
    from sip.phone import Softphone

    sink = ListSink()
    runners = []

    def new_runner(call_id, direction, remote):
        session = CallSession(call_id, pack=default_pack("en"), source="sip", remote=remote)
        runners.append(CallRunner(session, [sink]).start())
        return runners[-1]

    cfg = SipConfig(uri="sip:agent@127.0.0.1", bind="127.0.0.1", port=0, auto_answer=False)
    phone = Softphone(cfg, new_runner=new_runner, end_runner=lambda r, why: r.finish(why, 5),
                      notify=print)
    control = SipControl(phone)
    phone.start()
    print("port", phone.port, flush=True)
    deadline = time.monotonic() + 15
    while not phone.call_ids() and time.monotonic() < deadline:
        time.sleep(0.05)
    call_id = phone.call_ids()[0]
    time.sleep(1.0)  # still ringing: nobody answered
    states = [e.data.state for e in sink.events if e.type == "call_state"]
    print("before answer", states, flush=True)
    print("answer:", control.answer(call_id), flush=True)
    for ask in (lambda: control.answer(call_id),
                lambda: control.supervise(call_id, "listen", "", "sue"),
                lambda: control.hangup("sip-nope"), lambda: control.dial("bob@host")):
        try:
            ask()
        except ControlError as exc:
            print("refused:", exc, flush=True)
    # hang up once the call is up (its ACK seen), not after a guess at how long that takes
    deadline = time.monotonic() + 20
    while (not any(e.type == "call_state" and e.data.state == "confirmed" for e in sink.events)
           and time.monotonic() < deadline):
        time.sleep(0.05)
    print("hangup:", control.hangup(call_id), flush=True)
    while not any(e.type == "call_ended" for e in sink.events) and time.monotonic() < deadline:
        time.sleep(0.05)
    phone.stop()
    print("events", json.dumps([[e.type, getattr(e.data, "state", None)] for e in sink.events
                                if e.type in ("call_state", "call_ended")]), flush=True)
    """
)


@pytest.mark.timeout(60)
def test_answer_and_hangup_from_another_thread(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "caller.wav", timeline(3.0, [(0.2, 2.0)], seed=5))
    phone = Proc([sys.executable, "-c", SCRIPT])
    caller = None
    try:
        _, m = phone.wait_for(r"^port (\d+)")
        caller = peer(
            *("--play", str(wav), "--record", str(tmp_path / "heard.wav")),
            *("--dial", f"sip:agent@127.0.0.1:{m.group(1)}", "--seconds", "20"),
        )
        phone.wait_for(r"^events ", timeout=30)
        caller.wait_for(r"^ended", timeout=10)  # the plugin's BYE ended the caller's call
        # the script ends by itself once it has printed: wait for that (a SIGTERM sent while it
        # is still shutting down on a loaded machine was read as a failure: exit -15)
        assert phone.p.wait(30) == 0, phone.text
    finally:
        phone.kill()
        if caller is not None:
            caller.kill()
    out = phone.text
    assert "before answer ['ringing']" in out, out
    assert "answer: sip-" in out and "answered" in out
    assert "refused: sip-" in out and "is not ringing" in out
    assert "refused: this supervisor has no SIP URI" in out
    assert "refused: no live SIP call 'sip-nope'" in out
    assert "refused: 'bob@host' is not a SIP URI" in out
    assert (
        'events [["call_state", "ringing"], ["call_state", "confirmed"], '
        '["call_state", "ended"], ["call_ended", null]]' in out
    ), out
    assert "Assertion" not in out and "Traceback" not in out
