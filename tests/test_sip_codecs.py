"""Codec preference on a real call: by default the softphone offers wideband G.722 before G.711
(pjsua's own order put speex first), and `[sip] codecs` changes the order. baresip (with its
G.711 and G.722 modules) answers with the first codec of our offer it speaks."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ports import free_rtp_base, free_udp_port
from tests.sip_helpers import assist, baresip, plugin_config, speech_wav


def _call_out(tmp_path: Path, rtp_port: int, rate: int, **sip: object) -> str:
    """`rate`: the callee's audio rate (baresip's WAV source must match the codec's)."""
    wav = speech_wav(
        tmp_path / "customer.wav", "Hello, this is the customer.", seconds=4, rate=rate
    )
    port = free_udp_port()
    callee = baresip(
        tmp_path / "callee", wav, seconds=5, port=port, codecs=("g711", "g722"), rate=rate
    )
    plugin = None
    try:
        callee.wait_for(r"baresip is ready", timeout=10)
        cfg = plugin_config(tmp_path / "assist.toml", rtp_port=rtp_port, **sip)
        plugin = assist(
            *("sip", "call", f"sip:customer@127.0.0.1:{port}", "--config", str(cfg)),
            *("--no-server", "--asr", "off"),
        )
        assert plugin.p.wait(30) == 0, plugin.text
        plugin.stop()
        return plugin.text
    finally:
        callee.kill()
        if plugin is not None:
            plugin.kill()


@pytest.mark.timeout(60)
def test_g722_is_preferred_by_default(tmp_path: Path) -> None:
    out = _call_out(tmp_path, free_rtp_base(), 16_000)
    assert "codecs: G722/16000/1, PCMU/8000/1, PCMA/8000/1" in out, out
    assert "audio codec G722/16000" in out, out


@pytest.mark.timeout(60)
def test_codecs_setting_orders_the_offer(tmp_path: Path) -> None:
    out = _call_out(tmp_path, free_rtp_base(), 8_000, codecs=["PCMA", "nonesuch"])
    assert "sip.codecs: not in this pjsua2 build: nonesuch" in out
    assert "codecs: PCMA/8000/1" in out, out
    assert "audio codec PCMA/8000" in out, out
