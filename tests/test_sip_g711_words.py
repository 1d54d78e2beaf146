"""Word cues over a real 8 kHz G.711 call (issue 12 point 7): baresip, restricted to PCMU, calls
`assist sip` run as a user runs it (call store on, `--asr auto`: Whisper tiny.en finals per
utterance), and the customer's words must come out of the phone line as prompts.

The customer is espeak-ng (a scripted complaint) or real recorded speech (pocketsphinx-testdata
digits); the agent is silent, or a WAV (`agent_play`) with a greeting and a closing. The words
are asserted on Whisper's finals (`engine` whisper, `asr_pass` 2): with the second pass off the
complaint is not heard (PocketSphinx at 8 kHz), so these tests fail if word cues over G.711
break. Loopback only; every process is killed in `finally`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assist.runtime.wavio import resample
from tests.asr_audio import say
from tests.ports import free_rtp_base
from tests.sip_helpers import (
    Proc,
    assist,
    baresip,
    events,
    plugin_config,
    speech_wav,
    stored_calls,
    wait_event,
    write_wav,
)
from tests.speech_clips import clip, wer

CUSTOMER_SAYS = "This is ridiculous. I want to cancel my account."
# espeak-ng's en-gb at 160 wpm keeps the sentence one utterance for the VAD; slower voices
# pause long enough at the full stop to split it, and tiny.en misreads "This is ridiculous."
# on its own ("This is my big illness.", "This is your last"): see docs/performance.md
VOICE, WPM = "en-gb", 160
RATE = 16_000


def _finals(ev: Path, speaker: str = "customer") -> list[dict[str, Any]]:
    return [
        e["data"]
        for e in events(ev)
        if e["type"] == "transcript"
        and e["data"]["speaker"] == speaker
        and e["data"]["kind"] == "final"
    ]


def _placed(total_s: float, parts: list[tuple[float, np.ndarray]], rate: int) -> np.ndarray:
    y = np.zeros(int(total_s * rate), np.float32)
    for at, x in parts:
        i = int(at * rate)
        y[i : i + x.size] += x[: y.size - i]
    return y


def _call(tmp_path: Path, wav: Path, rtp_port: int, **sip: Any) -> tuple[Proc, Path, str]:
    """baresip (PCMU only) dials `assist sip` (defaults: store on, ASR auto) and streams `wav`
    for 14 s; returns the plugin (stopped), its events file and the call's id."""
    cfg = plugin_config(tmp_path / "assist.toml", rtp_port=rtp_port, **sip)
    ev = tmp_path / "events.jsonl"
    plugin = assist("sip", "--no-server", "--config", str(cfg), "--events", str(ev))
    customer = None
    try:
        _, m = plugin.wait_for(r"listening on udp port (\d+)", timeout=30)
        customer = baresip(
            tmp_path / "baresip",
            wav,
            seconds=14,
            dial=f"sip:agent@127.0.0.1:{m.group(1)}",
            only="PCMU",
        )
        ended = wait_event(ev, timeout=40, type="call_ended")
        assert plugin.stop() == 0, plugin.text
    finally:
        plugin.kill()
        if customer is not None:
            customer.kill()
    assert "Traceback" not in plugin.text, plugin.text
    codecs = re.findall(r"audio codec (\S+)", plugin.text)
    assert codecs == ["PCMU/8000"], plugin.text  # really 8 kHz G.711, the whole call
    return plugin, ev, str(ended["call_id"])


@pytest.mark.timeout(90)
def test_complaint_over_pcmu_is_a_negative_phrase_prompt(tmp_path: Path) -> None:
    """An espeak-ng customer says the complaint down a PCMU line: Whisper's final has the key
    words, `negative_phrase` fires on it, and `assist calls` lists the call."""
    wav = speech_wav(tmp_path / "customer8k.wav", CUSTOMER_SAYS, seconds=16.0, voice=VOICE, wpm=WPM)
    _, ev, call_id = _call(tmp_path, wav, free_rtp_base())
    finals = _finals(ev)
    heard = " ".join(f["text"] for f in finals).lower()
    for word in ("ridiculous", "cancel", "account"):
        assert word in heard, finals
    assert all(f["engine"].startswith("whisper") and f["asr_pass"] == 2 for f in finals), finals
    prompts = [e for e in events(ev) if e["type"] == "prompt"]
    negative = [p for p in prompts if p["data"]["rule"] == "negative_phrase"]
    assert negative, [p["data"]["rule"] for p in prompts]
    assert negative[0]["data"]["evidence"]["speaker"] == "customer"
    assert negative[0]["data"]["evidence"]["phrase"] in ("ridiculous", "cancel")
    said = [e["t"] for e in events(ev) if e["type"] == "transcript" and e["data"]["text"]]
    assert said and negative[0]["t"] >= said[0]  # on the words, not before them
    stored = {c["call_id"]: c for c in stored_calls()}
    assert stored[call_id]["status"] == "hangup" and stored[call_id]["source"] == "sip"
    assert stored[call_id]["events"] == len(events(ev))


@pytest.mark.timeout(90)
def test_recorded_digits_over_pcmu_must_be_read_back(tmp_path: Path) -> None:
    """Real recorded speech (tidigits "two nine three four zero") down a PCMU line; the agent
    (`agent_play`) greets, then closes without reading the number back: `confirm_numbers`
    names the number the customer gave."""
    digits, ref = clip("tidigits")
    assert ref == "two nine three four zero"
    customer = resample(_placed(16.0, [(4.0, digits)], RATE), RATE, 8_000)
    wav = write_wav(tmp_path / "digits8k.wav", customer, rate=8_000)
    greeting, _ = say("Hello, this is Sam. How can I help you?", VOICE, wpm=WPM, pad_s=0)
    closing, _ = say("Thank you for calling, goodbye.", VOICE, wpm=WPM, pad_s=0)
    agent = write_wav(
        tmp_path / "agent.wav", _placed(14.0, [(0.5, greeting), (9.0, closing)], RATE)
    )
    _, ev, call_id = _call(tmp_path, wav, free_rtp_base(), agent_play=str(agent))
    finals = _finals(ev)
    assert any(wer(ref, f["text"]) == 0 for f in finals), finals
    assert all(f["engine"].startswith("whisper") and f["asr_pass"] == 2 for f in finals), finals
    confirm = [
        e for e in events(ev) if e["type"] == "prompt" and e["data"]["rule"] == "confirm_numbers"
    ]
    assert confirm, [e["data"]["rule"] for e in events(ev) if e["type"] == "prompt"]
    assert confirm[0]["data"]["evidence"]["numbers"] == "29340"
    assert call_id in {c["call_id"] for c in stored_calls()}
