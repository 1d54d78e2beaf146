"""Recording sessions at once in one `assist srs` process, and SIP set-up time under a burst.

    python benchmarks/srs_sessions.py [--sessions 1 2 3 4] [--seconds 20] [--burst 20] [--json]

For each N: one `assist srs` (its defaults: `--asr auto`, store on in a temp file, overlay off)
and N pjsua2 SIPREC clients (tests/siprec_client.py), each recording an espeak-ng customer
and agent (the two streams of tests/test_srs.py) for `--seconds`. From the events: audio
frames dropped (`dropped`), `asr_lagging` reports, and each session's set-up time (client side:
INVITE sent to CONFIRMED). N passes with no drop and no lag report (as benchmarks/
realtime_calls.py). Also the server's peak resident memory, and the load average beside every
figure (the machine is shared). `--burst K`: K INVITEs at once (hand-written), first offering
3 streams (each refused, 488 or 503), then 2 streams (at most `max_sessions` answered 200,
ACKed and ended at once; the rest 503): the time to each INVITE's final response, median and
the last, and apart for those answered 200 (the session's SIP set-up) and those refused, and
whether the server is still up: the SIP path under a flood, without the
analysis cost (`--asr off`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.ports import free_rtp_base, free_udp_port  # noqa: E402
from tests.sip_helpers import Proc, events, speech_wav  # noqa: E402
from tests.siprec_raw import METADATA, multipart, record, sdp  # noqa: E402
from tests.test_srs import AGENT_SAYS, CUSTOMER_SAYS, VOICE, WPM  # noqa: E402

CLIENT = ROOT / "tests" / "siprec_client.py"


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _server(work: Path, max_sessions: int, *extra: str) -> tuple[Proc, Path, int]:
    cfg = work / "srs.toml"
    cfg.write_text(
        f'[srs]\nbind = "127.0.0.1"\nport = 0\nrtp_port = {free_rtp_base()}\n'
        f'max_sessions = {max_sessions}\nagents = ["1*"]\n'
    )
    ev = work / "events.jsonl"
    proc = Proc(
        [sys.executable, "-m", "assist", "srs", "--config", str(cfg), "--events", str(ev),
         "--no-server", "--store", str(work / "calls.sqlite3"), *extra]
    )  # fmt: skip
    _, m = proc.wait_for(r"listening on udp\+tcp port (\d+)", timeout=120)
    return proc, ev, int(m.group(1))


def run_sessions(n: int, seconds: float, work: Path) -> dict[str, Any]:
    customer = speech_wav(
        work / "c.wav", CUSTOMER_SAYS, seconds=seconds, rate=16_000, voice=VOICE, wpm=WPM
    )
    agent = speech_wav(work / "a.wav", AGENT_SAYS, seconds=seconds, rate=16_000, wpm=WPM)
    meta = work / "m.xml"
    meta.write_text(METADATA)
    srs, ev, port = _server(work, max(n, 1))
    peak = 0
    clients: list[Proc] = []
    try:
        for _ in range(n):
            clients.append(
                Proc(
                    [
                        sys.executable,
                        str(CLIENT),
                        "--target",
                        f"sip:srs@127.0.0.1:{port}",
                        "--rtp-port",
                        str(free_udp_port()),
                        "--play",
                        str(customer),
                        str(agent),
                        "--metadata",
                        str(meta),
                        "--seconds",
                        str(seconds),
                    ]
                )  # fmt: skip
            )
        setups = []
        for c in clients:
            t_ready, _ = c.wait_for(r"^ready", timeout=60)
            t_conf, _ = c.wait_for(r"state CONFIRMED", timeout=60)
            setups.append(t_conf - t_ready)
        deadline = time.monotonic() + seconds + 30
        while time.monotonic() < deadline:
            peak = max(peak, _rss_kb(srs.p.pid))
            ended = [e for e in events(ev) if e["type"] == "call_ended"]
            if len(ended) >= n:
                break
            time.sleep(0.5)
        load = os.getloadavg()[0]
        srs.stop()
    finally:
        srs.kill()
        for c in clients:
            c.kill()
    evs = events(ev)
    lag = sum(1 for e in evs if e["type"] == "asr_lagging" and not e["data"]["recovered"])
    dropped = sum(e["data"]["count"] for e in evs if e["type"] == "dropped")
    ended = sum(1 for e in evs if e["type"] == "call_ended")
    return {
        "sessions": n,
        "ended": ended,
        "lag_reports": lag,
        "dropped": dropped,
        "setup_s_median": round(statistics.median(setups), 3) if setups else None,
        "setup_s_max": round(max(setups), 3) if setups else None,
        "peak_rss_mb": round(peak / 1024, 1),
        "load_avg_1m": round(load, 2),
        "passed": ended == n and lag == 0 and dropped == 0,
    }


def run_burst(k: int, work: Path) -> list[dict[str, Any]]:
    work.mkdir(parents=True, exist_ok=True)
    srs, _, port = _server(work, 30, "--asr", "off")
    out: list[dict[str, Any]] = []
    try:
        for labels in (["1", "2", "3"], ["1", "2"]):
            ctype, body = multipart(
                [("application/sdp", sdp(labels)), ("application/rs-metadata+xml", METADATA)]
            )
            out.append(_one_burst(k, port, ctype, body, len(labels), srs))
            time.sleep(1.0)  # the sessions' sockets back in pjsip's table
        srs.stop()
    finally:
        srs.kill()
    return out


def _one_burst(k: int, port: int, ctype: str, body: str, streams: int, srs: Proc) -> dict[str, Any]:
    codes: list[int] = []
    times: list[float] = []
    lock = threading.Lock()

    def one() -> None:
        t0 = time.monotonic()

        def final(code: int) -> None:
            with lock:
                codes.append(code)
                times.append(time.monotonic() - t0)

        record(port, ctype, body, timeout=30, audio=[], on_final=final)

    threads = [threading.Thread(target=one) for _ in range(k)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    total = time.monotonic() - t0
    ok = [t for c, t in zip(codes, times, strict=True) if c == 200]
    no = [t for c, t in zip(codes, times, strict=True) if c != 200]
    return {
        "burst": k,
        "streams": streams,
        "answered": len(codes),
        "codes": {c: codes.count(c) for c in sorted(set(codes))},
        "final_s_median": round(statistics.median(times), 3) if times else None,
        "final_s_max": round(max(times), 3) if times else None,
        "to_200_s_median": round(statistics.median(ok), 3) if ok else None,
        "to_200_s_max": round(max(ok), 3) if ok else None,
        "refused_s_median": round(statistics.median(no), 3) if no else None,
        "all_s": round(total, 3),
        "server_alive": srs.p.poll() is None,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, nargs="*", default=[1, 2, 3, 4])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--burst", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.burst:
            results += run_burst(args.burst, Path(tmp) / "burst")
        for n in args.sessions:
            work = Path(tmp) / f"n{n}"
            work.mkdir(parents=True)
            r = run_sessions(n, args.seconds, work)
            results.append(r)
            if not r["passed"]:
                break
    for r in results:
        print(json.dumps(r) if args.json else "  ".join(f"{k}={v}" for k, v in r.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
