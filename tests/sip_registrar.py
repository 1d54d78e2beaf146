"""Kamailio (Debian's 5.6) as a registrar and proxy with digest authentication, on 127.0.0.1:
UDP and TCP on one port, the location table in memory (so a restart forgets every binding, as
a restarted registrar without a database does). REGISTERs and INVITEs from `agent` must carry
the password; INVITEs to a registered user are relayed to every binding (parallel forking),
record-routed, so ACK, BYE and CANCEL travel through it."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from tests.sip_helpers import Proc

MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"
PASSWORD = "s3cret-agent"

CFG = """\
#!KAMAILIO
debug=2
log_stderror=yes
children=2
tcp_children=2
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
{tls_listen}
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
loadmodule "auth.so"
{tls_module}
modparam("usrloc", "db_mode", 0)
modparam("registrar", "min_expires", 10)
request_route {{
    if (has_totag()) {{
        if (loose_route()) {{ t_relay(); exit; }}
        if (is_method("ACK") && t_check_trans()) {{ t_relay(); }}
        exit;
    }}
    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{ t_relay(); }}
        exit;
    }}
    if (is_method("REGISTER")) {{
        if (!pv_www_authenticate("$fd", "{password}", "0")) {{
            www_challenge("$fd", "0");
            exit;
        }}
        xlog("L_INFO", "REGISTER $fu over $pr: $ct\\n");
        save("location");
        exit;
    }}
    if (is_method("INVITE")) {{
        if ($fU == "agent") {{
            if (!pv_proxy_authenticate("$fd", "{password}", "0")) {{
                proxy_challenge("$fd", "0");
                exit;
            }}
            consume_credentials();
        }}
        record_route();
        if (!lookup("location")) {{
            xlog("L_INFO", "NO BINDING for $tu\\n");
            sl_send_reply("404", "Not registered");
            exit;
        }}
        xlog("L_INFO", "INVITE for $tu to $ru\\n");
        t_relay();
        exit;
    }}
    sl_send_reply("405", "Not here");
}}
"""


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (Kamailio listens on both)."""
    for _ in range(50):
        with socket.socket() as t:
            t.bind(("127.0.0.1", 0))
            port = int(t.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise AssertionError("no port free for UDP and TCP")


TLS_CFG = """\
[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
private_key = {key}
certificate = {cert}
ca_list = {ca}
"""


class Registrar:
    """One Kamailio on fixed ports, which can be stopped and started again (a restart). With
    `certs` (tests/certs.py) it also listens for TLS on `tls_port`."""

    def __init__(self, folder: Path, certs: dict[str, Path] | None = None) -> None:
        self.folder = folder
        self.port = free_port()
        self.tls_port = free_port() if certs else 0
        folder.mkdir(parents=True, exist_ok=True)
        tls_listen = tls_module = ""
        if certs:
            (folder / "tls.cfg").write_text(TLS_CFG.format(**certs))
            tls_listen = f"enable_tls=yes\nlisten=tls:127.0.0.1:{self.tls_port}"
            tls_module = f'loadmodule "tls.so"\nmodparam("tls", "config", "{folder / "tls.cfg"}")'
        cfg = CFG.format(
            port=self.port,
            mpath=MODULES,
            password=PASSWORD,
            tls_listen=tls_listen,
            tls_module=tls_module,
        )
        (folder / "kamailio.cfg").write_text(cfg)
        self.proc: Proc | None = None
        self.runs: list[Proc] = []

    def start(self) -> Registrar:
        self.proc = Proc(
            ["/usr/sbin/kamailio", "-f", str(self.folder / "kamailio.cfg"), "-DD", "-E"]
            + ["-w", str(self.folder), "-P", str(self.folder / "k.pid"), "-m", "32", "-M", "8"],
            cwd=self.folder,
        )
        self.runs.append(self.proc)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            if self.proc.p.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"kamailio is not listening on {self.port}:\n{self.proc.text}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    @property
    def text(self) -> str:
        return "\n".join(p.text for p in self.runs)

    def uri(self, user: str = "", transport: str = "udp") -> str:
        at = f"{user}@" if user else ""
        port = self.tls_port if transport == "tls" else self.port
        suffix = f";transport={transport}" if transport != "udp" else ""
        return f"sip:{at}127.0.0.1:{port}{suffix}"
