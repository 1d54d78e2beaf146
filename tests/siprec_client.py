"""A SIPREC recording client for the tests, in its own process: a pjsua2 Endpoint that does
what an SBC does. One INVITE with `Require: siprec`, two audio streams (`audioCount = 2`),
each `sendonly` with its `a=label` (added in `onCallSdpCreated`), a multipart body with the
RFC 7865 metadata (`SipTxOption.multipartParts`), and each stream playing its own WAV:

    python tests/siprec_client.py --target sip:srs@127.0.0.1:PORT --rtp-port N \
        --play customer.wav agent.wav --labels 1 2 --metadata meta.xml [--seconds S]
        [--reinvite-at S --reinvite-metadata other.xml] [--update-at S --update-metadata F]
        [--pause-at S --resume-at S [--pause-with update]] [--tcp | --tls-ca CA.pem]
    -> "ready", "state <STATE> <code> <reason>", "playing", "reinvited", "updated",
       "paused", "resumed", "ended"

A pause is what RFC 7866 section 8.1.2 says an SRC does: a re-INVITE (or UPDATE) with every
stream `a=inactive`, and no RTP until the resume (`sendonly` again). Each mid-call request
carries the SDP offer (labelled as the first); --update-at sends an UPDATE.

It hangs up (BYE) after --seconds from the answer, or exits when the server ends the call.
Loopback only.
"""

from __future__ import annotations

import argparse
import ctypes
import re
import signal
import sys
import threading
import time
from pathlib import Path

import pjsua2 as pj


def labelled(sdp: str, labels: list[str], direction: str) -> str:
    """Each audio m= section gets `a=<direction>` and its label (any old ones dropped)."""
    out: list[str] = []
    index = -1

    def tail() -> None:
        if 0 <= index < len(labels):
            out.append(f"a={direction}")
            out.append(f"a=label:{labels[index]}")

    for line in sdp.splitlines():
        if line.startswith("m="):
            tail()
            index += 1
        if re.match(r"a=(sendrecv|sendonly|recvonly|inactive|label:)", line):
            continue
        out.append(line)
    tail()
    return "\r\n".join(out) + "\r\n"


_lib = ctypes.CDLL(pj._pjsua2.__file__)
_lib.pjmedia_sdp_print.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
_lib.pjmedia_sdp_print.restype = ctypes.c_int


def sdp_text(session: object) -> str:
    """The SDP of a `pjmedia_sdp_session *` (a SWIG pointer object) as text."""
    ptr = int(session)  # type: ignore[call-overload]
    buf = ctypes.create_string_buffer(8192)
    n = _lib.pjmedia_sdp_print(ptr, buf, len(buf))
    if n <= 0:
        raise RuntimeError("pjmedia_sdp_print failed")
    return buf.raw[:n].decode()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--rtp-port", type=int, required=True)
    ap.add_argument("--play", nargs="+", required=True, help="one WAV per stream")
    ap.add_argument("--labels", nargs="+", default=["1", "2"])
    ap.add_argument("--metadata", help="rs-metadata XML file (none: no metadata part)")
    ap.add_argument("--metadata-type", default="application/rs-metadata+xml")
    ap.add_argument("--metadata-first", action="store_true")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--reinvite-at", type=float)
    ap.add_argument("--reinvite-metadata")
    ap.add_argument("--update-at", type=float)
    ap.add_argument("--update-metadata")
    ap.add_argument("--update-every", type=float, help="UPDATE again this often, to the end")
    ap.add_argument("--pause-at", type=float)
    ap.add_argument("--resume-at", type=float)
    ap.add_argument("--pause-with", choices=("reinvite", "update"), default="reinvite")
    ap.add_argument("--tcp", action="store_true")
    ap.add_argument("--tls-ca", help="SIP over TLS, trusting this CA; SRTP (SDES) required")
    args = ap.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    streams = len(args.play)

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
    tcfg.port = 0
    tcfg.boundAddress = "127.0.0.1"
    kind = pj.PJSIP_TRANSPORT_TCP if args.tcp else pj.PJSIP_TRANSPORT_UDP
    if args.tls_ca:
        kind = pj.PJSIP_TRANSPORT_TLS
        tcfg.tlsConfig.CaListFile = args.tls_ca
        tcfg.tlsConfig.verifyServer = True
    ep.transportCreate(kind, tcfg)
    ep.libStart()
    ep.audDevManager().setNullDev()
    keep: dict[str, object] = {}
    answered: list[float] = []
    direction = ["sendonly"]  # what the next SDP offer says (inactive while paused)

    class Client(pj.Call):
        def onCallSdpCreated(self, prm: pj.OnCallSdpCreatedParam) -> None:  # noqa: N802
            # this wheel hands an empty wholeSdp to Python: print the C session ourselves
            text = prm.sdp.wholeSdp or sdp_text(prm.sdp.pjSdpSession)
            prm.sdp.wholeSdp = labelled(text, args.labels, direction[0])

        def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802
            ci = self.getInfo()
            print(f"state {ci.stateText} {ci.lastStatusCode} {ci.lastReason}", flush=True)
            if ci.state == pj.PJSIP_INV_STATE_CONFIRMED and not answered:
                answered.append(time.monotonic())
            if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                stop.set()

        def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802
            ci = self.getInfo()
            n = 0
            for mi in ci.media:
                if mi.type != pj.PJMEDIA_TYPE_AUDIO or mi.status != pj.PJSUA_CALL_MEDIA_ACTIVE:
                    continue
                if mi.index >= len(args.play):
                    continue
                old = keep.get(f"player{mi.index}")
                if isinstance(old, pj.AudioMediaPlayer):  # a stream pjsua made anew (resume)
                    old.startTransmit(self.getAudioMedia(mi.index))  # (no-op if connected)
                    continue
                player = pj.AudioMediaPlayer()
                player.createPlayer(args.play[mi.index], pj.PJMEDIA_FILE_NO_LOOP)
                player.startTransmit(self.getAudioMedia(mi.index))
                keep[f"player{mi.index}"] = player
                n += 1
            if n:
                print(f"playing {n}", flush=True)

    acfg = pj.AccountConfig()
    acfg.idUri = "sips:src@127.0.0.1" if args.tls_ca else "sip:src@127.0.0.1"
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    acfg.mediaConfig.transportConfig.port = args.rtp_port
    if args.tls_ca:
        acfg.mediaConfig.srtpUse = pj.PJMEDIA_SRTP_MANDATORY
        acfg.mediaConfig.srtpSecureSignaling = 1
    acc = pj.Account()
    acc.create(acfg)

    def tx(metadata: str | None) -> pj.SipTxOption:
        opt = pj.SipTxOption()
        h = pj.SipHeader()
        h.hName, h.hValue = "Require", "siprec"
        opt.headers.append(h)
        if metadata is not None:
            mtype, _, sub = args.metadata_type.partition("/")
            part = pj.SipMultipartPart()
            part.contentType.type, part.contentType.subType = mtype, sub
            part.body = Path(metadata).read_text()
            opt.multipartContentType.type = "multipart"
            opt.multipartContentType.subType = "mixed"
            opt.multipartParts.append(part)
        return opt

    call = Client(acc)
    keep["call"] = call
    op = pj.CallOpParam(True)
    op.opt.audioCount = streams
    op.opt.videoCount = 0
    op.txOption = tx(args.metadata)
    target = args.target + (";transport=tcp" if args.tcp else "")
    if args.tls_ca:
        target = args.target.replace("sip:", "sips:", 1)
    print("ready", flush=True)
    call.makeCall(target, op)

    def offer(how: str, metadata: str | None) -> None:
        rop = pj.CallOpParam(True)
        rop.opt.audioCount = streams
        rop.opt.videoCount = 0
        rop.txOption = tx(metadata)
        client = keep["call"]
        assert isinstance(client, Client)
        if how == "update":
            client.update(rop)
        else:
            client.reinvite(rop)

    # (when, what): each done once, in time order
    plan: list[tuple[float, str]] = []
    if args.reinvite_at is not None:
        plan.append((args.reinvite_at, "reinvite"))
    if args.update_at is not None:
        plan.append((args.update_at, "update"))
        at = args.update_at
        while args.update_every and at + args.update_every < args.seconds:
            at += args.update_every
            plan.append((at, "update"))
    if args.pause_at is not None:
        plan.append((args.pause_at, "pause"))
    if args.resume_at is not None:
        plan.append((args.resume_at, "resume"))
    plan.sort()
    while not stop.is_set():
        ep.libHandleEvents(10)
        if answered:
            since = time.monotonic() - answered[0]
            while plan and since >= plan[0][0]:
                what = plan.pop(0)[1]
                if what == "reinvite":
                    offer("reinvite", args.reinvite_metadata)
                    print("reinvited", flush=True)
                elif what == "update":
                    try:
                        offer("update", args.update_metadata)
                        print("updated", flush=True)
                    except pj.Error as exc:  # the previous one still pending: skipped
                        print(f"update skipped: {exc.reason}", flush=True)
                else:
                    direction[0] = "inactive" if what == "pause" else "sendonly"
                    offer(args.pause_with, None)
                    print("paused" if what == "pause" else "resumed", flush=True)
            if since >= args.seconds:
                break
    try:
        call.hangup(pj.CallOpParam(True))
    except pj.Error:
        pass
    for _ in range(100):
        ep.libHandleEvents(10)
    keep.clear()
    del call
    acc.shutdown()
    ep.libDestroy()
    print("ended", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
