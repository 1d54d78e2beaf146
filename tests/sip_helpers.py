"""Helpers for the SIP tests: processes whose output lines are timestamped, WAV tones, band
levels, the plugin's config and events. Everything on 127.0.0.1; every wait is bounded."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tests.ports import free_rtp_base

ROOT = Path(__file__).resolve().parents[1]
PEER = Path(__file__).with_name("sip_peer.py")


class Proc:
    """A child process; a thread collects (wall time, line) from its stdout+stderr."""

    def __init__(
        self, argv: Sequence[str], *, cwd: Path = ROOT, env: dict[str, str] | None = None
    ) -> None:
        self.argv = list(argv)
        self.p = subprocess.Popen(
            self.argv,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",  # a peer's log may carry raw bytes (Kamailio's TLS dumps)
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        self.lines: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            with self._cond:
                self.lines.append((time.time(), line.rstrip("\n")))
                self._cond.notify_all()

    def wait_for(self, pattern: str, timeout: float = 15.0) -> tuple[float, re.Match[str]]:
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for t, line in self.lines:
                    m = rx.search(line)
                    if m:
                        return t, m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.argv[:3]}: no line like {pattern!r}:\n{self.text}")
                self._cond.wait(min(left, 0.2))

    @property
    def text(self) -> str:
        with self._cond:
            return "\n".join(line for _, line in self.lines)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, wait; SIGKILL if it does not go. Returns the exit code."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(5)
        self._t.join(5)
        return self.p.returncode

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait(5)


def assist(*args: str, env: dict[str, str] | None = None) -> Proc:
    return Proc([sys.executable, "-m", "assist", *args], env=env)


def peer(*args: str) -> Proc:
    """The pjsua2 peer process (tests/sip_peer.py); its RTP range is a free one unless given."""
    rtp = () if "--rtp-port" in args else ("--rtp-port", str(free_rtp_base()))
    return Proc([sys.executable, str(PEER), *args, *rtp])


def write_wav(path: Path, x: np.ndarray, rate: int = 16_000) -> Path:
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def tone(freq: float, seconds: float, *, level: float = 0.25, rate: int = 16_000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768
    return x, rate


def band_rms(x: np.ndarray, rate: int, freq: float, width: float = 40.0) -> float:
    """RMS of `x` within freq ± width/2 (Parseval over the rFFT bins)."""
    if x.size == 0:
        return 0.0
    spec = np.fft.rfft(x * np.hanning(x.size))
    f = np.fft.rfftfreq(x.size, 1 / rate)
    sel = np.abs(f - freq) <= width / 2
    power = 2 * np.sum(np.abs(spec[sel]) ** 2) / (x.size * np.sum(np.hanning(x.size) ** 2))
    return float(np.sqrt(power))


def tone_level(
    x: np.ndarray,
    rate: int,
    freq: float,
    *,
    reference: float,
    chunk_s: float = 0.2,
    quantile: float = 0.5,
) -> float:
    """How loud the tone `freq` is, over and above a band nobody plays (`reference`): clicks
    from late packets spread energy over every band and must not count as hearing a party.
    A quantile over short chunks (default the median), so a transient (a re-routed bridge)
    does not decide."""
    n = int(chunk_s * rate)
    chunks = [x[i : i + n] for i in range(0, x.size - n + 1, n)]
    levels = [max(0.0, band_rms(c, rate, freq) - band_rms(c, rate, reference)) for c in chunks]
    return float(np.quantile(levels, quantile))


def window(x: np.ndarray, rate: int, start_s: float, end_s: float) -> np.ndarray:
    a, b = max(0, int(start_s * rate)), max(0, int(end_s * rate))
    assert b - a > rate // 2, f"window {start_s:.2f}..{end_s:.2f} s is too short or missing"
    assert b <= x.size, f"recording is {x.size / rate:.2f} s, window ends at {end_s:.2f} s"
    return x[a:b]


def plugin_config(path: Path, *, overlay: str = "", **sip: Any) -> Path:
    rows = {"uri": "sip:agent@127.0.0.1", "bind": "127.0.0.1", "port": 0, **sip}
    rows.setdefault("rtp_port", free_rtp_base())  # its own range: never one another test uses
    lines = ["[sip]"] + [f"{k} = {json.dumps(v)}" for k, v in rows.items()]
    path.write_text("\n".join(lines) + "\n" + overlay)
    return path


def sipp_registrar(cwd: Path, port: int, scenario: str, calls: int, timeout_s: int = 30) -> Proc:
    """sipp as the registrar on `port` (tests/data/registrar_*.xml), for `calls` REGISTERs.
    pjsip starts a new Call-ID after a failed REGISTER: refusing, then accepting, are two
    sipp runs on the same port."""
    scenario_file = Path(__file__).with_name("data") / scenario
    return Proc(
        ["/usr/bin/sipp", "-sf", str(scenario_file), "-i", "127.0.0.1", "-p", str(port)]
        + ["-m", str(calls), "-nostdin", "-timeout", f"{timeout_s}s", "-timeout_error"],
        cwd=cwd,
    )


def registering_config(path: Path, port: int) -> Path:
    """A plugin config that registers as agent (password "secret") at sipp on `port`."""
    return plugin_config(
        path, registrar=f"sip:127.0.0.1:{port}", username="agent", password="secret"
    )


def events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


def wait_event(path: Path, timeout: float = 15.0, **match: Any) -> dict[str, Any]:
    """The first event whose type/data fields match, polling the JSONL file (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for e in events(path):
            if all(e.get(k) == v or e["data"].get(k) == v for k, v in match.items()):
                return e
        time.sleep(0.1)
    seen = [(e["type"], e["data"].get("state")) for e in events(path) if e["type"] != "meters"]
    raise AssertionError(f"no event like {match} within {timeout} s; got {seen}")


BARESIP_CONFIG = """\
poll_method epoll
sip_listen 127.0.0.1:{port}
audio_player aufile,/dev/null
audio_source aufile,{wav}
audio_alert aufile,/dev/null
module_path /usr/lib/baresip/modules
{codec_modules}
module aufile.so
module account.so
module menu.so
audio_srate {rate}
"""


def baresip(
    home: Path,
    wav: Path,
    *,
    seconds: int,
    dial: str = "",
    port: int = 0,
    codecs: Sequence[str] = ("g711",),
    rate: int = 8000,
    only: str = "",
) -> Proc:
    """baresip (Debian) streaming `wav` (8 kHz mono) on 127.0.0.1: dials `dial`, or auto-answers
    on `port`; quits after `seconds`. `codecs`: its codec modules, in its order of preference;
    `rate`: its audio rate, which the WAV must have (16000 for a G.722 call); `only`: the one
    codec its account offers and accepts (`PCMU`: the g711 module alone also offers PCMA)."""
    home.mkdir(parents=True, exist_ok=True)
    modules = "\n".join(f"module {c}.so" for c in codecs)
    (home / "config").write_text(
        BARESIP_CONFIG.format(port=port, wav=wav, codec_modules=modules, rate=rate)
    )
    restrict = f";audio_codecs={only}" if only else ""
    (home / "accounts").write_text(f"<sip:customer@127.0.0.1>;regint=0;answermode=auto{restrict}\n")
    argv = ["/usr/bin/baresip", "-n", "127.0.0.1", "-f", str(home), "-t", str(seconds)]
    if dial:
        argv += ["-e", f"/dial {dial}"]
    return Proc(argv, cwd=home)


def speech_wav(
    path: Path,
    text: str,
    *,
    seconds: float,
    rate: int = 8_000,
    voice: str = "en-us+m3",
    wpm: int = 130,
) -> Path:
    """English speech (espeak-ng `voice` at `wpm`) at `rate`, starting 0.5 s in, padded with
    silence to `seconds`: what a customer says down a G.711 line."""
    from tests.asr_audio import say

    x, _ = say(text, voice, wpm=wpm, rate=rate, pad_s=0.5)
    x = np.concatenate([x, np.zeros(max(0, int(seconds * rate) - x.size), np.float32)])
    return write_wav(path, x, rate=rate)


def stored_calls() -> list[dict[str, Any]]:
    """`assist calls --json` as a user runs it (the store is $ASSIST_DB: conftest's temp file)."""
    out = subprocess.run(
        [sys.executable, "-m", "assist", "calls", "--json", "-n", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def transcripts(path: Path, speaker: str = "customer") -> list[str]:
    """Final transcript texts of `speaker` in an events file."""
    return [
        e["data"]["text"]
        for e in events(path)
        if e["type"] == "transcript"
        and e["data"]["speaker"] == speaker
        and e["data"]["kind"] == "final"
        and e["data"]["text"]
    ]
