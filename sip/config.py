"""The `[sip]` table of `assist sip --config FILE`: account, transport, audio and call handling.

    [sip]
    uri = "sip:alice@pbx.example.com"      # who this softphone is
    registrar = "sip:pbx.example.com"      # omit: no registration (direct IP calls)
    username = "alice"                      # digest credentials, with password
    password = "secret"
    transport = "udp"                       # udp | tcp | tls
    tls_cert = "cert.pem"                   # tls: our certificate and key (PEM), to accept
    tls_key = "key.pem"                     #   the PBX's connections for incoming calls
    tls_ca = "ca.pem"                       # tls: CAs that sign the PBX's certificate
    tls_verify = true                       # tls: refuse a PBX whose certificate fails
    srtp = "off"                            # off | optional | mandatory (SDES keys: use tls)
    port = 5060                             # local SIP port (0 = any free port)
    bind = "127.0.0.1"                      # local address for SIP and RTP (default: all)
    rtp_port = 4000                         # first local RTP port (two per call, upwards)
    audio = "null"                          # "null" only: the phone is headless (the
                                            # pjsua2 wheel has no sound card support)
    auto_answer = true                      # answer incoming calls at once
    media_timeout_s = 10                    # no RTP for this long: the call is dropped
    agent_play = "agent.wav"                # optional: play a WAV as the agent's microphone
    agent_record_dir = "ears/"              # optional: record what the agent hears, per call
    second_call = "busy"                    # a call while one is live: "busy" (486) | "ring"
    ring_timeout_s = 60                     # an outgoing call unanswered this long: hung up
    register_expires_s = 120                # registration refresh (what we ask the registrar)
    keepalive_s = 30                        # tcp/tls: TCP keep-alive probes after this idle
    log_level = 1                           # pjsip's log level (0-6), to log_file or stderr
    log_file = ""                           # pjsip's log file ("" = stderr)
    codecs = ["G722", "PCMU", "PCMA"]       # offered in this order, others off (default:
                                            # opus if built in, G722, PCMU, PCMA)
    public_address = "203.0.113.7"          # NAT: the address peers reach us at (Contact,
                                            # Via, SDP c=); ports forwarded 1:1
    stun_servers = ["stun.example.com:3478"]  # NAT: learn our public address (SIP and RTP)
    ice = false                             # NAT: ICE candidates in the SDP (not with a
                                            # loopback bind)

    [overlay]                               # see overlay/auth.py (host, port, tokens)
    [fleet]                                 # see fleet/config.py

Each key is declared once below (`assist.core.tables`); a bad one is one line naming the file
and the key: `assist: error: FILE: sip.port: expected a port number from 0 to 65535, got 70000`.
Pure (no pjsua2): the command checks the file before the SIP thread starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from assist.core.errors import ConfigError
from assist.core.hosts import host_problem, is_loopback
from assist.core.tables import build, check_fields, check_tables, key, table_of
from assist.runtime.config import file_problem, read_config
from sip.uri import UriError, check_uri

Transport = Literal["udp", "tcp", "tls"]
Srtp = Literal["off", "optional", "mandatory"]
SecondCall = Literal["busy", "ring"]

DEFAULT_SIP_PORT = 5060
DEFAULT_RTP_PORT = 4000
DEFAULT_MEDIA_TIMEOUT_S = 10.0
DEFAULT_AUDIO = "null"
DEFAULT_LOG_LEVEL = 1
DEFAULT_RING_TIMEOUT_S = 60.0
DEFAULT_REGISTER_EXPIRES_S = 120  # a registrar that lost us (restart) hears from us this soon
DEFAULT_KEEPALIVE_S = 30
MAX_STUN_SERVERS = 8
TABLES = ("sip", "overlay", "fleet")  # what `assist sip --config` reads
NO_SOUND_CARD = (
    '"default" needs a sound card and the pjsua2-python wheel has no audio device support; '
    "agent_play / agent_record_dir give scripted audio"
)


def sip_uri_problem(value: str) -> str | None:
    """Why `value` is not a SIP URI the softphone takes (`sip/uri.py`), or None."""
    try:
        check_uri(value)
    except UriError as exc:
        reason = str(exc).removeprefix(f"{value!r}: ")
        return "" if "is not a SIP URI" in reason else reason
    return None


def _audio(value: str) -> str | None:
    return NO_SOUND_CARD if value == "default" else None


def _codec(value: str) -> str | None:
    return None if value and " " not in value else ""


def _optional_uri(value: str) -> str | None:
    return sip_uri_problem(value) if value else None


def _optional_host(value: str) -> str | None:
    return host_problem(value, port=False) if value else None


SIP_URI = "a SIP URI like sip:alice@host"
SECONDS = "seconds"


@dataclass(frozen=True, slots=True, kw_only=True)
class SipConfig:
    """The `[sip]` table: account, transport, audio and call handling."""

    uri: str = key(what=SIP_URI, check=sip_uri_problem, doc="the account's SIP URI")
    registrar: str = key("", what=SIP_URI + ' or ""', check=_optional_uri)
    username: str = key("")
    password: str = key("", secret=True)
    realm: str = key("*")
    transport: Transport = key("udp")
    port: int = key(DEFAULT_SIP_PORT, lo=0, hi=65535, what="a port number")
    bind: str = key("")
    rtp_port: int = key(DEFAULT_RTP_PORT, lo=1024, hi=65000, what="a port number")
    audio: Literal["null"] = key(DEFAULT_AUDIO, what='"null" (headless)', check=_audio)
    auto_answer: bool = key(True)
    media_timeout_s: float = key(DEFAULT_MEDIA_TIMEOUT_S, lo=1, hi=3600, unit=SECONDS)
    agent_play: str = key("", what="an existing WAV file", check=file_problem)
    agent_record_dir: str = key("")
    second_call: SecondCall = key("busy")
    ring_timeout_s: float = key(DEFAULT_RING_TIMEOUT_S, lo=1, hi=600, unit=SECONDS)
    register_expires_s: int = key(DEFAULT_REGISTER_EXPIRES_S, lo=30, hi=3600, unit=SECONDS)
    keepalive_s: int = key(DEFAULT_KEEPALIVE_S, lo=5, hi=600, unit=SECONDS)
    log_level: int = key(DEFAULT_LOG_LEVEL, lo=0, hi=6, what="a log level (0 off, 6 all)")
    log_file: str = key("")
    codecs: tuple[str, ...] = key(  # () = the default preference (sip/codecs.py)
        (), what='a list of codec names like ["G722", "PCMU"]', check=_codec
    )
    tls_cert: str = key("", what="an existing PEM file", check=file_problem)
    tls_key: str = key("", what="an existing PEM file", check=file_problem)
    tls_ca: str = key("", what="an existing PEM file", check=file_problem)
    tls_verify: bool = key(True)
    srtp: Srtp = key("off")
    public_address: str = key("", what="an IP address or host name", check=_optional_host)
    stun_servers: tuple[str, ...] = key(
        (),
        hi=MAX_STUN_SERVERS,
        what='a list of hosts or host:port (like "stun.example.com:3478")',
        check=host_problem,
    )
    ice: bool = key(False)

    def __post_init__(self) -> None:
        check_fields(self, "sip")
        scheme = check_uri(self.registrar)[1] if self.registrar else None
        if scheme and scheme != self.transport:
            raise ConfigError(
                f"uses transport={scheme} but sip.transport is {self.transport!r}",
                key="sip.registrar",
            )
        if self.password and not self.username:
            raise ConfigError("required when sip.password is set", key="sip.username")
        for name in ("tls_cert", "tls_key", "tls_ca"):
            if getattr(self, name) and self.transport != "tls":
                raise ConfigError('only used with sip.transport = "tls"', key=f"sip.{name}")
        if bool(self.tls_cert) != bool(self.tls_key):
            missing, given = ("tls_key", "tls_cert") if self.tls_cert else ("tls_cert", "tls_key")
            raise ConfigError(f"required with sip.{given} (give both)", key=f"sip.{missing}")
        if self.ice and self.bind and is_loopback(self.bind):
            raise ConfigError(
                f"ICE gathers no candidates on a loopback address (sip.bind = {self.bind!r}); "
                'bind to an interface address or to all ("")',
                key="sip.ice",
            )

    @classmethod
    def from_table(cls, table: dict[str, Any]) -> SipConfig:
        return build(cls, table, where="sip")


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything `assist sip` reads from its config file."""

    sip: SipConfig
    overlay: dict[str, Any] = field(default_factory=dict)  # parsed by overlay.auth


def load_settings(path: str | Path) -> Settings:
    """Read and check a config file; every problem is a ConfigError naming the file and key."""
    doc = read_config(path)
    try:
        check_tables(doc, TABLES)
        sip = SipConfig.from_table(table_of(doc, "sip", required="the account: uri, registrar"))
        return Settings(sip=sip, overlay=table_of(doc, "overlay"))
    except ConfigError as exc:
        raise exc.in_file(path) from None
