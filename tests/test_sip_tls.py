"""SIP over TLS and SRTP with real peers, certificates made at test time with openssl: the
plugin registers over TLS to Debian's Kamailio (its tls module), and baresip calls the plugin
over TLS with SRTP required; the call is analysed and stored. Loopback only."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.certs import make_certs
from tests.ports import free_port
from tests.sip_helpers import (
    Proc,
    assist,
    events,
    plugin_config,
    speech_wav,
    stored_calls,
    wait_event,
)

KAMAILIO_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"


def _wait_listening(port: int, proc: Proc, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"kamailio is not listening on {port}:\n{proc.text}")


KAMAILIO_CFG = """\
#!KAMAILIO
debug=2
log_stderror=yes
children=2
tcp_children=2
enable_tls=yes
listen=tls:127.0.0.1:{port}
auto_aliases=no
alias="127.0.0.1"
mpath="{mpath}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "tls.so"
modparam("tls", "config", "{tls_cfg}")
modparam("usrloc", "db_mode", 0)
request_route {{
    if (is_method("REGISTER") && proto == TLS) {{
        xlog("L_INFO", "REGISTER $fu over $pr: $ct\\n");
        save("location");
        exit;
    }}
    sl_send_reply("403", "TLS registrations only");
}}
"""
TLS_CFG = """\
[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
private_key = {key}
certificate = {cert}
ca_list = {ca}
"""


@pytest.mark.timeout(60)
def test_registers_over_tls_to_kamailio(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    port = free_port()
    (tmp_path / "tls.cfg").write_text(TLS_CFG.format(**certs))
    (tmp_path / "kamailio.cfg").write_text(
        KAMAILIO_CFG.format(port=port, mpath=KAMAILIO_MODULES, tls_cfg=tmp_path / "tls.cfg")
    )
    kamailio = Proc(
        ["/usr/sbin/kamailio", "-f", str(tmp_path / "kamailio.cfg"), "-DD", "-E"]
        + ["-w", str(tmp_path), "-P", str(tmp_path / "k.pid"), "-m", "32", "-M", "8"],
        cwd=tmp_path,
    )
    plugin = None
    try:
        _wait_listening(port, kamailio)
        cfg = plugin_config(
            tmp_path / "assist.toml",
            transport="tls",
            registrar=f"sip:127.0.0.1:{port};transport=tls",
            tls_ca=str(certs["ca"]),
            tls_cert=str(certs["cert"]),
            tls_key=str(certs["key"]),
            srtp="mandatory",
        )
        plugin = assist("sip", "--config", str(cfg), "--no-server", "--asr", "off")
        plugin.wait_for(
            rf"registered sip:agent@127\.0\.0\.1 at sip:127\.0\.0\.1:{port};transport=tls"
        )
        _, m = kamailio.wait_for(r"REGISTER sip:agent@127\.0\.0\.1 over tls: (\S+)")
        assert "transport=TLS" in m[1]
        # TCP keep-alive on the TLS connection to the registrar (sip.keepalive_s)
        sockets = subprocess.run(
            ["ss", "-tnoH", "state", "established", f"( dport = :{port} )"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
        assert "timer:(keepalive" in sockets, sockets
        assert plugin.stop() == 0, plugin.text
    finally:
        if plugin is not None:
            plugin.kill()
        kamailio.stop()
    assert "Traceback" not in plugin.text and "Assertion" not in plugin.text


BARESIP_TLS = """\
poll_method epoll
sip_listen 127.0.0.1:0
sip_cafile {ca}
sip_certificate {both}
audio_player aufile,/dev/null
audio_source aufile,{wav}
audio_alert aufile,/dev/null
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module srtp.so
module account.so
module menu.so
audio_srate 8000
"""


@pytest.mark.timeout(60)
def test_baresip_calls_over_tls_with_srtp_required(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    wav = speech_wav(tmp_path / "customer8k.wav", "Hello, I am calling about my bill.", seconds=7)
    cfg = plugin_config(
        tmp_path / "assist.toml",
        transport="tls",
        tls_ca=str(certs["ca"]),
        tls_cert=str(certs["cert"]),
        tls_key=str(certs["key"]),
        srtp="mandatory",
    )
    ev = tmp_path / "events.jsonl"
    plugin = assist("sip", "--config", str(cfg), "--no-server", "--asr", "off", "--events", str(ev))
    caller = None
    try:
        _, m = plugin.wait_for(r"listening on tls port (\d+)")
        home = tmp_path / "baresip"
        home.mkdir()
        (home / "config").write_text(BARESIP_TLS.format(wav=wav, **certs))
        (home / "accounts").write_text(
            "<sip:customer@127.0.0.1;transport=tls>;regint=0;mediaenc=srtp-mand\n"
        )
        caller = Proc(
            ["/usr/bin/baresip", "-n", "127.0.0.1", "-f", str(home), "-t", "6"]
            + ["-e", f"/dial sip:agent@127.0.0.1:{m[1]};transport=tls"],
            cwd=home,
        )
        caller.wait_for(r"SRTP is Enabled", timeout=15)
        ended = wait_event(ev, timeout=20, type="call_ended")
        assert plugin.stop() == 0, plugin.text
    finally:
        plugin.kill()
        if caller is not None:
            caller.kill()
    assert "Traceback" not in plugin.text and "Assertion" not in plugin.text, plugin.text
    assert ended["data"]["reason"] == "hangup"
    got = events(ev)
    assert [e["data"]["state"] for e in got if e["type"] == "call_state"] == [
        "ringing",
        "confirmed",
        "ended",
    ]
    assert [e for e in got if e["type"] == "speech" and e["data"]["speaker"] == "customer"]
    assert ended["call_id"] in {c["call_id"] for c in stored_calls()}


KAMAILIO_PROXY_CFG = """\
#!KAMAILIO
debug=2
log_stderror=yes
children=2
tcp_children=2
enable_tls=yes
listen=tls:127.0.0.1:{port}
auto_aliases=no
alias="127.0.0.1:{port}"
mpath="{mpath}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "tls.so"
modparam("tls", "config", "{tls_cfg}")
modparam("usrloc", "db_mode", 0)
request_route {{
    xlog("L_INFO", "IN $rm $ru from $si:$sp over $pr\\n");
    if (has_totag()) {{
        if (loose_route()) {{
            xlog("L_INFO", "in-dialog $rm to $ru via $du\\n");
            t_relay();
            exit;
        }}
        if (is_method("ACK") && t_check_trans()) {{
            t_relay();
        }}
        exit;
    }}
    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{ t_relay(); }}
        exit;
    }}
    if (is_method("REGISTER")) {{
        if (proto != TLS) {{ sl_send_reply("403", "TLS registrations only"); exit; }}
        xlog("L_INFO", "REGISTER $fu over $pr: $ct\\n");
        save("location");
        exit;
    }}
    if (is_method("INVITE")) {{
        record_route();
        if (!lookup("location")) {{ sl_send_reply("404", "Not registered"); exit; }}
        xlog("L_INFO", "INVITE for $tu to $ru\\n");
        t_relay();
        exit;
    }}
    sl_send_reply("405", "Not here");
}}
"""


def _kamailio(tmp_path: Path, cfg_text: str, certs: dict[str, Path]) -> tuple[Proc, int]:
    port = free_port()
    (tmp_path / "tls.cfg").write_text(TLS_CFG.format(**certs))
    cfg = cfg_text.format(port=port, mpath=KAMAILIO_MODULES, tls_cfg=tmp_path / "tls.cfg")
    (tmp_path / "kamailio.cfg").write_text(cfg)
    proc = Proc(
        ["/usr/sbin/kamailio", "-f", str(tmp_path / "kamailio.cfg"), "-DD", "-E"]
        + ["-w", str(tmp_path), "-P", str(tmp_path / "k.pid"), "-m", "32", "-M", "8"],
        cwd=tmp_path,
    )
    _wait_listening(port, proc)
    return proc, port


def _baresip_tls(home: Path, wav: Path, certs: dict[str, Path], dial: str, seconds: int) -> Proc:
    home.mkdir(parents=True)
    (home / "config").write_text(BARESIP_TLS.format(wav=wav, **certs))
    (home / "accounts").write_text(
        "<sip:customer@127.0.0.1;transport=tls>;regint=0;mediaenc=srtp-mand\n"
    )
    return Proc(
        ["/usr/bin/baresip", "-n", "127.0.0.1", "-f", str(home), "-t", str(seconds)]
        + ["-e", f"/dial {dial}"],
        cwd=home,
    )


@pytest.mark.timeout(90)
def test_baresip_calls_the_agent_through_kamailio_with_srtp(tmp_path: Path) -> None:
    """The done-when of issue 12: the plugin registers to Kamailio over TLS; baresip calls
    sip:agent@<kamailio> with SRTP required; Kamailio looks the agent up and relays the INVITE,
    and record-routes, so ACK and BYE travel through it too, in both directions (the customer
    hangs up the first call, the plugin the second). Both calls are analysed and stored."""
    certs = make_certs(tmp_path / "certs")
    kamailio, port = _kamailio(tmp_path, KAMAILIO_PROXY_CFG, certs)
    short = speech_wav(tmp_path / "short.wav", "Hello, I am calling about my bill.", seconds=7)
    long = speech_wav(tmp_path / "long.wav", "Hello, I am calling about my bill.", seconds=40)
    ev = tmp_path / "events.jsonl"
    cfg = plugin_config(
        tmp_path / "assist.toml",
        transport="tls",
        registrar=f"sip:127.0.0.1:{port};transport=tls",
        tls_ca=str(certs["ca"]),
        tls_cert=str(certs["cert"]),
        tls_key=str(certs["key"]),
        srtp="mandatory",
    )
    plugin = assist("sip", "--config", str(cfg), "--no-server", "--asr", "off", "--events", str(ev))
    callers: list[Proc] = []
    agent = f"sip:agent@127.0.0.1:{port};transport=tls"  # Kamailio's address, not the plugin's
    try:
        plugin.wait_for(r"registered sip:agent@127\.0\.0\.1", timeout=20)
        callers.append(_baresip_tls(tmp_path / "b1", short, certs, agent, seconds=12))
        callers[0].wait_for(r"SRTP is Enabled", timeout=15)
        first = wait_event(ev, timeout=20, type="call_ended")
        kamailio.wait_for(r"in-dialog BYE to sip:agent@", timeout=5)
        callers.append(_baresip_tls(tmp_path / "b2", long, certs, agent, seconds=40))
        callers[1].wait_for(r"SRTP is Enabled", timeout=15)
        wait_event(ev, timeout=10, type="speech", speaker="customer", call_id=_second(ev, first))
        assert plugin.stop() == 0, plugin.text  # hangs up: our BYE goes through Kamailio
        callers[1].wait_for(r"session closed", timeout=10)
        kamailio.wait_for(r"in-dialog BYE to sip:customer", timeout=5)
    finally:
        plugin.kill()
        for c in callers:
            c.kill()
        kamailio.stop()
    assert "Traceback" not in plugin.text and "Assertion" not in plugin.text, plugin.text
    assert "refused" not in kamailio.text and "ERROR" not in kamailio.text, kamailio.text
    # the INVITE reached the plugin at its registered contact, through Kamailio
    relayed = re.findall(r"INVITE for sip:agent@\S+ to sip:agent@127\.0\.0\.1", kamailio.text)
    assert len(relayed) == 2
    assert len(re.findall(r"in-dialog ACK to sip:agent@", kamailio.text)) == 2
    got = events(ev)
    ends = [e for e in got if e["type"] == "call_ended"]
    assert [e["data"]["reason"] for e in ends] == ["hangup", "interrupted"]
    for end in ends:
        cid = end["call_id"]
        mine = [e for e in got if e["call_id"] == cid]
        states = [e["data"]["state"] for e in mine if e["type"] == "call_state"]
        assert states == ["ringing", "confirmed", "ended"], states
        assert [e for e in mine if e["type"] == "speech" and e["data"]["speaker"] == "customer"]
    assert {e["call_id"] for e in ends} <= {c["call_id"] for c in stored_calls()}


def _second(ev: Path, first: dict[str, Any]) -> str:
    """The call id of the call after `first` (bounded wait for its ringing)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        ids = [e["call_id"] for e in events(ev) if e["type"] == "call_state"]
        later = [c for c in ids if c != first["call_id"]]
        if later:
            return later[0]
        time.sleep(0.1)
    raise AssertionError("no second call")
