"""A scriptable SIP peer for the tests, in its own process: a second pjsua2 Endpoint.

baresip (Debian) plays the customer in the end-to-end tests, but cannot record what it hears
headless (its aufile module is a source only here); this peer can. It answers (or dials) one
call, plays a WAV into it, records what it receives to a WAV, and prints one line per event:

    python tests/sip_peer.py --port 0 --play tone.wav --record heard.wav [--dial URI]
    -> "ready <port>", "state <STATE> <last code> <unix time>", "recording <unix time>",
       ["held", "resumed"], "ended"

It exits on SIGTERM or when the call ends. Loopback only.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

import pjsua2 as pj


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--play", required=True)
    ap.add_argument("--record", required=True)
    ap.add_argument("--dial")
    ap.add_argument("--rtp-port", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--hold", type=float, nargs=2, metavar=("AT", "UNTIL"), help="put on hold")
    args = ap.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = 0
    cfg.logConfig.consoleLevel = 0
    cfg.medConfig.ecTailLen = 0
    cfg.medConfig.noVad = True
    ep.libInit(cfg)
    tcfg = pj.TransportConfig()
    tcfg.port = args.port
    tcfg.boundAddress = "127.0.0.1"
    tid = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    port = int(ep.transportGetInfo(tid).localName.rsplit(":", 1)[-1])
    ep.libStart()
    ep.audDevManager().setNullDev()

    state: dict[str, object] = {}

    class Peer(pj.Call):
        def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802
            ci = self.getInfo()
            print(f"state {ci.stateText} {ci.lastStatusCode} {time.time():.3f}", flush=True)
            if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                stop.set()

        def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802
            ci = self.getInfo()
            for mi in ci.media:
                if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                    if "player" in state:
                        return
                    am = self.getAudioMedia(mi.index)
                    player = pj.AudioMediaPlayer()
                    player.createPlayer(args.play)  # loops
                    recorder = pj.AudioMediaRecorder()
                    recorder.createRecorder(args.record)
                    player.startTransmit(am)
                    am.startTransmit(recorder)
                    state["player"], state["recorder"] = player, recorder
                    print(f"recording {time.time():.3f}", flush=True)

    class Acc(pj.Account):
        def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:  # noqa: N802
            call = Peer(self, prm.callId)
            state["call"] = call
            op = pj.CallOpParam(True)
            op.statusCode = 200
            call.answer(op)

    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:peer@127.0.0.1:{port}"
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    acfg.mediaConfig.transportConfig.port = args.rtp_port  # distinct from the plugin's range
    acc = Acc()
    acc.create(acfg)
    print(f"ready {port}", flush=True)
    if args.dial:
        call = Peer(acc)
        state["call"] = call
        call.makeCall(args.dial, pj.CallOpParam(True))
    start = time.monotonic()
    hold = list(args.hold or ())
    while not stop.is_set() and time.monotonic() - start < args.seconds:
        ep.libHandleEvents(10)
        if hold and time.monotonic() - start >= hold[0] and "call" in state:
            call = state["call"]
            if len(hold) == 2:
                call.setHold(pj.CallOpParam(True))  # type: ignore[attr-defined]
                print("held", flush=True)
            else:
                op = pj.CallOpParam(True)
                op.opt.flag = pj.PJSUA_CALL_UNHOLD
                call.reinvite(op)  # type: ignore[attr-defined]
                print("resumed", flush=True)
            hold.pop(0)
    ep.hangupAllCalls()
    for _ in range(50):
        ep.libHandleEvents(10)
    state.clear()  # recorder closed (WAV header written), calls deleted before libDestroy
    del acc
    ep.libDestroy()
    print("ended", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
