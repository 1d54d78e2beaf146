"""How steady pjmedia's bridge clock is with Python taps vs C-side taps (issue 12 point 12: clicks).

    python benchmarks/sip_clock.py [--seconds S] [--kinds python,recorder,none]
                                   [--conditions idle,gil,...] [--json]

The softphone's conference bridge runs on pjmedia's clock thread (the null sound device's
clock, 20 ms ticks). In each tick the bridge reads every source, mixes, and hands each
listener its frame: the calls' streams, which encode and send RTP at once, and the analysis
taps. A tap in Python (`python`: an AudioMediaPort, as the softphone had until this change)
needs the GIL, and while it waits the whole tick waits: every call's RTP goes out late, then
in a burst, and a peer's jitter buffer conceals or drops what came too late: a click. The
`recorder` taps are what the softphone uses now (sip/tap.py): pjmedia WAV writers on tmpfs,
C on the clock thread, tailed by one Python thread (sip/tapfile.py).

What is measured is what a peer gets: the player and the taps sit on the bridge of a call to a
sipp UAS whose SDP sends the RTP to a socket of ours, and the kernel's receive timestamp of
each packet (SO_TIMESTAMPNS: independent of when Python reads it) gives the interval between
packets (ideal 20.0 ms), under:

  idle            nothing else in the process
  gil             one pure-Python thread busy in the same process (ASR glue, the runner,
                  the overlay server, JSON: anything that holds the GIL)
  gil+switch1ms   the same with sys.setswitchinterval(0.001) (the softphone's setting)
  gil-hold        a thread in a C call that keeps the GIL for 1 s at a time (a C extension
                  that does not release it); a Python tap stops the clock for that long
  cpu             two busy processes outside (the machine loaded, no GIL contention)

It prints, per tap kind and condition, the median, 99th percentile and largest interval, and
how many packets came more than 10 ms late (a peer's jitter buffer hides a few ms, not a whole
frame). Needs /usr/bin/sipp.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import multiprocessing
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pjsua2 as pj

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sip.endpoint import analysis_media  # noqa: E402
from sip.tap import RecorderTaps, silence_source  # noqa: E402
from sip.tapfile import TapReader, tap_dir  # noqa: E402

RATE = 16_000
CONDITIONS = ("idle", "gil", "gil+switch1ms", "gil-hold", "cpu")
KINDS = ("python", "recorder", "none")  # none: no taps at all (the floor)
HOLD_S = 1.0
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_KEEP: list[Any] = []  # pjsua2 objects must not be freed after the library, nor in any order

UAS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="rtp sink">
  <recv request="INVITE" />
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- 1 1 IN IP4 127.0.0.1
      s=-
      c=IN IP4 127.0.0.1
      t=0 0
      m=audio RTP_PORT RTP/AVP 0
      a=rtpmap:0 PCMU/8000
      a=recvonly
    ]]>
  </send>
  <recv request="ACK" />
  <recv request="BYE" />
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
</scenario>
"""


class TimedTap(pj.AudioMediaPort):
    """The old kind of tap: Python on the clock thread, doing a tap's work."""

    def __init__(self, name: str) -> None:
        super().__init__()
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, RATE, 1, 20_000, 16)
        self.createPort(name, fmt)

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:  # noqa: N802
        if frame.size:
            np.frombuffer(bytes(frame.buf), dtype="<i2").astype(np.float32)

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:  # noqa: N802
        frame.type = pj.PJMEDIA_FRAME_TYPE_NONE


class BenchCall(pj.Call):
    def __init__(self, acc: pj.Account, player: pj.AudioMediaPlayer) -> None:
        super().__init__(acc)
        self.player = player
        self.media: pj.AudioMedia | None = None

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802
        ci = self.getInfo()
        for mi in ci.media:
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.media = self.getAudioMedia(mi.index)
                self.player.startTransmit(self.media)


def _busy(stop: Any) -> None:
    x = 0
    while not stop.is_set():
        for i in range(10_000):
            x += i * i


def _hold(stop: threading.Event) -> None:
    """Keep the GIL in C for HOLD_S at a time (ctypes.PyDLL calls do not release it)."""
    usleep = ctypes.PyDLL(None).usleep
    while not stop.is_set():
        usleep(int(HOLD_S * 1e6))
        time.sleep(0.2)


def _tone(path: Path) -> None:
    t = np.arange(RATE * 5) / RATE
    pcm = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())


class RtpClock:
    """Kernel receive times of the RTP the call sends us (read whenever; stamped on arrival)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtcp.bind(("127.0.0.1", self.port + 1))  # may fail on a taken port: then rerun
        self.stamps: list[int] = []

    def drain(self) -> None:
        while True:
            try:
                _, anc, _, _ = self.sock.recvmsg(2048, socket.CMSG_SPACE(16))
            except BlockingIOError:
                return
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", data[:16])
                    self.stamps.append(sec * 1_000_000_000 + nsec)


def _pump(ep: pj.Endpoint, clock: RtpClock, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ep.libHandleEvents(10)
        clock.drain()


def measure(
    ep: pj.Endpoint,
    call: BenchCall,
    clock: RtpClock,
    kind: str,
    condition: str,
    seconds: float,
    keep: list[Any],
    taps_dir: Path,
    silence: pj.AudioMedia,
) -> dict[str, Any]:
    player = call.player
    reader = None
    if kind == "python":
        taps: list[Any] = [TimedTap(f"t{condition}{i}") for i in range(2)]
        keep.extend(taps)  # never freed while the clock runs (see sip/tap.py's history)
    elif kind == "none":
        taps = []
    else:
        reader = TapReader().start()
        rec = RecorderTaps(taps_dir, f"bench-{condition}", lambda a, c: None, silence)
        reader.add(rec.stream)
        taps = list(rec.ports.values())
    for t in taps:
        player.startTransmit(t)
    stop_thread = threading.Event()
    stop_proc = multiprocessing.Event()
    procs: list[multiprocessing.Process] = []
    thread = None
    sys.setswitchinterval(0.001 if condition == "gil+switch1ms" else 0.005)
    if condition.startswith("gil"):
        target = _hold if condition == "gil-hold" else _busy
        thread = threading.Thread(target=target, args=(stop_thread,), daemon=True)
    if condition == "cpu":
        procs = [multiprocessing.Process(target=_busy, args=(stop_proc,)) for _ in range(2)]
    _pump(ep, clock, 0.5)  # settle
    clock.stamps.clear()
    if thread is not None:
        thread.start()
    for p in procs:
        p.start()
    _pump(ep, clock, seconds)
    stamps = list(clock.stamps)
    stop_thread.set()
    stop_proc.set()
    if thread is not None:
        thread.join()
    for p in procs:
        p.join()
    sys.setswitchinterval(0.005)
    for t in taps:
        player.stopTransmit(t)
    if reader is not None:
        stream = rec.release()
        done = threading.Event()
        reader.close(stream, done.set)
        _pump(ep, clock, 0.1)
        done.wait(2.0)
        reader.stop()
    gaps = np.diff(np.array(stamps, dtype=np.int64)) / 1e6
    return {
        "kind": kind,
        "condition": condition,
        "packets": int(gaps.size + 1),
        "median_ms": round(float(np.median(gaps)), 2),
        "p99_ms": round(float(np.percentile(gaps, 99)), 2),
        "max_ms": round(float(gaps.max()), 2),
        "late_10ms": int(np.sum(gaps > 30.0)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--conditions", default=",".join(CONDITIONS))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    conditions = [c for c in args.conditions.split(",") if c]
    if set(kinds) - set(KINDS) or set(conditions) - set(CONDITIONS):
        ap.error(f"kinds are {', '.join(KINDS)}; conditions {', '.join(CONDITIONS)}")
    if len(kinds) > 1:  # each kind in a fresh process: a Python port, once on the bridge,
        rows = []  # kept the clock waiting on the GIL after it was disconnected (measured)
        for kind in kinds:
            out = subprocess.run(
                [sys.executable, __file__, "--kinds", kind, "--conditions", args.conditions]
                + ["--seconds", str(args.seconds), "--json"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            figures = json.loads(out.strip().splitlines()[-1])
            rows += [{"kind": kind, "condition": c, **f} for c, f in figures[kind].items()]
        _report(rows, args.json)
        return
    rows = _run(kinds, conditions, args.seconds)
    _report(rows, args.json)
    sys.stdout.flush()
    os._exit(0)  # the Python-owned ports must not be freed after the library


def _run(kinds: list[str], conditions: list[str], seconds: float) -> list[dict[str, Any]]:
    work = Path(tempfile.mkdtemp(prefix="sip_clock-"))
    clock = RtpClock()
    scenario = work / "uas.xml"
    scenario.write_text(UAS.replace("RTP_PORT", str(clock.port)))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    sip_port = s.getsockname()[1]
    s.close()
    uas = subprocess.Popen(
        ["/usr/bin/sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(sip_port)]
        + ["-m", "1", "-nostdin", "-timeout", "600s"],
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = cfg.logConfig.consoleLevel = 0
    analysis_media(cfg)
    ep.libInit(cfg)
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, pj.TransportConfig())
    ep.libStart()
    ep.audDevManager().setNullDev()
    acc = pj.Account()
    acfg = pj.AccountConfig()
    acfg.idUri = "sip:bench@127.0.0.1"
    acc.create(acfg)
    wav = work / "tone.wav"
    _tone(wav)
    player = pj.AudioMediaPlayer()
    player.createPlayer(str(wav))
    taps_dir = tap_dir()
    silence = silence_source(taps_dir)
    call = BenchCall(acc, player)
    keep: list[Any] = []
    rows = []
    try:
        time.sleep(0.3)  # sipp binds its socket
        call.makeCall(f"sip:uas@127.0.0.1:{sip_port}", pj.CallOpParam(True))
        deadline = time.monotonic() + 10
        while call.media is None and time.monotonic() < deadline:
            _pump(ep, clock, 0.05)
        if call.media is None:
            raise SystemExit("the call to sipp got no audio")
        for kind in kinds:
            for c in conditions:
                rows.append(measure(ep, call, clock, kind, c, seconds, keep, taps_dir, silence))
    finally:
        uas.kill()
        for f in taps_dir.iterdir():
            f.unlink()
        taps_dir.rmdir()
        _KEEP.extend([ep, acc, call, player, silence, keep])  # freed by nobody: os._exit
    return rows


def _report(rows: list[dict[str, Any]], as_json: bool) -> None:
    """The table; with --json also the figures (kind.condition.figure) as the last line."""
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, {os.cpu_count()} cores")
    head = f"{'taps':<10}{'condition':<15}{'packets':>8}{'median':>9}{'p99':>9}{'max':>9}"
    print(head + f"{'late>10ms':>11}")
    for r in rows:
        print(
            f"{r['kind']:<10}{r['condition']:<15}{r['packets']:>8}{r['median_ms']:>9}"
            f"{r['p99_ms']:>9}{r['max_ms']:>9}{r['late_10ms']:>11}"
        )
    if as_json:
        figures: dict[str, Any] = {"loadavg": [round(x, 2) for x in load]}
        for r in rows:
            keep = {k: v for k, v in r.items() if k not in ("kind", "condition")}
            figures.setdefault(r["kind"], {})[r["condition"]] = keep
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
