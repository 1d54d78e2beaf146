"""NAT settings as a PBX behind NAT sees them, on loopback: the INVITE that sipp (a UAS) gets
from `assist sip call` names `public_address` in Via, Contact and the SDP's o=/c= lines (and
nothing of ours on 127.0.0.1), carries ICE candidates when `ice = true` and none otherwise;
a STUN server (Kamailio's stun module) is asked for our mapped address, and one that never
answers does not stop the phone from calling."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.ports import free_udp_port, wait_bound
from tests.sip_helpers import Proc, assist, plugin_config

PUBLIC = "203.0.113.7"  # TEST-NET-3: nothing is ever sent there in these tests


def _invite_from(tmp_path: Path, cfg: Path, *extra: str) -> tuple[str, Proc]:
    """Call a sipp UAS on loopback; return the INVITE it received and the finished plugin."""
    port = free_udp_port()
    tmp_path.mkdir(exist_ok=True)
    log = tmp_path / "sipp-messages.log"
    uas = Proc(
        ["/usr/bin/sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-m", "1"]
        + ["-nostdin", "-trace_msg", "-message_file", str(log), "-timeout", "30s"],
        cwd=tmp_path,
    )
    plugin = None
    try:
        wait_bound(port)  # sipp has bound its socket
        plugin = assist(
            "sip", "call", f"sip:uas@127.0.0.1:{port}", "--config", str(cfg), "--no-server", *extra
        )
        plugin.wait_for(r"calling sip:uas@", timeout=20)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace") if log.exists() else ""
            m = re.search(r"^INVITE sip:.*?\r?\n\r?\n.*?(?=^-{5,}|\Z)", text, re.M | re.S)
            if m and "m=audio" in m[0]:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"sipp got no INVITE with SDP:\n{plugin.text}")
        assert plugin.stop() == 0, plugin.text
    finally:
        if plugin is not None:
            plugin.kill()
        uas.kill()
    assert "Traceback" not in plugin.text and "Assertion" not in plugin.text, plugin.text
    return m[0], plugin


def _header(invite: str, name: str) -> str:
    m = re.search(rf"^{name}:\s*(.*)$", invite, re.M | re.I)
    assert m, f"no {name} header:\n{invite}"
    return m[1]


@pytest.mark.timeout(60)
def test_public_address_is_in_via_contact_and_sdp(tmp_path: Path) -> None:
    cfg = plugin_config(tmp_path / "assist.toml", public_address=PUBLIC, media_timeout_s=30)
    invite, _ = _invite_from(tmp_path, cfg)
    assert PUBLIC in _header(invite, "Via"), invite
    assert f"@{PUBLIC}:" in _header(invite, "Contact"), invite
    assert f"c=IN IP4 {PUBLIC}" in invite, invite
    assert re.search(rf"^o=.* IN IP4 {re.escape(PUBLIC)}", invite, re.M), invite
    assert "a=candidate" not in invite  # ICE is off by default
    assert "127.0.0.1" not in _header(invite, "Contact")


@pytest.mark.timeout(60)
def test_ice_puts_candidates_in_the_offer(tmp_path: Path) -> None:
    # ICE gathers no candidates on a loopback address: bind to every interface (the config
    # refuses ice with a loopback bind); SIP still goes to sipp over 127.0.0.1
    cfg = plugin_config(tmp_path / "assist.toml", bind="", ice=True)
    invite, _ = _invite_from(tmp_path, cfg)
    assert "a=ice-ufrag:" in invite and "a=ice-pwd:" in invite, invite
    candidates = re.findall(r"^a=candidate:\S+ 1 UDP \d+ (\S+) (\d+) typ (\w+)", invite, re.M)
    assert candidates and all(kind == "host" for _, _, kind in candidates), invite


KAMAILIO_STUN = """\
#!KAMAILIO
debug=3
log_stderror=yes
children=1
listen=udp:127.0.0.1:{port}
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "sl.so"
loadmodule "stun.so"
request_route {{ sl_send_reply("404", "not here"); }}
"""


@pytest.mark.timeout(90)
def test_stun_server_is_asked_and_a_dead_one_does_not_stop_calls(tmp_path: Path) -> None:
    port = free_udp_port()
    (tmp_path / "k.cfg").write_text(KAMAILIO_STUN.format(port=port))
    stun = Proc(
        ["/usr/sbin/kamailio", "-f", str(tmp_path / "k.cfg"), "-DD", "-E", "-w", str(tmp_path)]
        + ["-P", str(tmp_path / "k.pid"), "-m", "16", "-M", "4"],
        cwd=tmp_path,
    )
    try:
        stun.wait_for(r"init_mod\(\): stun", timeout=10)
        wait_bound(port)  # kamailio listens
        cfg = plugin_config(tmp_path / "a.toml", stun_servers=[f"127.0.0.1:{port}"], log_level=4)
        invite, plugin = _invite_from(tmp_path / "a", cfg)
        stun.wait_for(r"stun_process_msg\(\): STUN Message", timeout=5)
    finally:
        stun.stop()
    assert "m=audio" in invite
    assert re.search(r"STUN mapped address", plugin.text), plugin.text
    dead = free_udp_port()  # nothing listens there: STUN fails, the phone goes on
    cfg = plugin_config(tmp_path / "b.toml", stun_servers=[f"127.0.0.1:{dead}"], log_level=4)
    invite, plugin = _invite_from(tmp_path / "b", cfg)
    assert "m=audio" in invite
    assert "STUN resolution failed" in plugin.text, plugin.text  # said on stderr (pjsip, level 1)
