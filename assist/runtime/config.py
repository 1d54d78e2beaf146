"""The softphone's settings: one TOML file, checked key by key before anything starts.

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

A bad key raises ConfigError naming the file and the key (`assist: error: FILE: sip.port: ...`).
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from assist.core.errors import ConfigError

Transport = Literal["udp", "tcp", "tls"]

DEFAULT_SIP_PORT = 5060
DEFAULT_RTP_PORT = 4000
DEFAULT_MEDIA_TIMEOUT_S = 10.0
DEFAULT_AUDIO = "null"
DEFAULT_LOG_LEVEL = 1
DEFAULT_RING_TIMEOUT_S = 60.0
DEFAULT_REGISTER_EXPIRES_S = 120  # a registrar that lost us (restart) hears from us this soon
DEFAULT_KEEPALIVE_S = 30
NO_SOUND_CARD = (
    'sip.audio: "default" needs a sound card, and the pjsua2-python wheel has no audio '
    'device support; assist sip is headless: use "null" (agent_play / agent_record_dir for '
    "scripted audio)"
)
SECOND_CALL = ("busy", "ring")
TRANSPORTS: tuple[Transport, ...] = ("udp", "tcp", "tls")
SRTP = ("off", "optional", "mandatory")
MAX_STUN_SERVERS = 8
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _is_host(value: str) -> bool:
    """An IPv4 or IPv6 address (bare or [bracketed]) or a DNS name."""
    bare = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    try:
        ipaddress.ip_address(bare)
        return True
    except ValueError:
        pass
    labels = value.rstrip(".").split(".")
    return 0 < len(value) <= 253 and all(_LABEL.fullmatch(label) for label in labels)


def _is_loopback(value: str) -> bool:
    try:
        return ipaddress.ip_address(value.strip("[]")).is_loopback
    except ValueError:
        return value == "localhost"


def _is_host_port(value: str) -> bool:
    """`host`, `host:port`, `[v6]` or `[v6]:port` (what pjsip takes as a STUN server)."""
    host, port = value, ""
    if value.startswith("["):
        end = value.find("]")
        host, port = value[: end + 1], value[end + 1 :]
        if end < 0 or (port and not port.startswith(":")):
            return False
        port = port[1:]
    elif value.count(":") == 1:
        host, port = value.split(":")
    if port and not (port.isdigit() and 1 <= int(port) <= 65535):
        return False
    return _is_host(host)


def _is_sip_uri(value: str) -> bool:
    return value.startswith(("sip:", "sips:")) and len(value) > 4 and " " not in value


def _uri_transport(uri: str) -> str:
    """The `;transport=` parameter of a SIP URI, lower case ("" if none)."""
    for param in uri.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "transport":
            return value.strip().lower()
    return ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SipConfig:
    """The `[sip]` table: account, transport, audio and call handling."""

    uri: str
    registrar: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    realm: str = "*"
    transport: Transport = "udp"
    port: int = DEFAULT_SIP_PORT
    bind: str = ""
    rtp_port: int = DEFAULT_RTP_PORT
    audio: str = DEFAULT_AUDIO
    auto_answer: bool = True
    media_timeout_s: float = DEFAULT_MEDIA_TIMEOUT_S
    agent_play: str = ""
    agent_record_dir: str = ""
    second_call: str = "busy"
    ring_timeout_s: float = DEFAULT_RING_TIMEOUT_S
    register_expires_s: int = DEFAULT_REGISTER_EXPIRES_S
    keepalive_s: int = DEFAULT_KEEPALIVE_S
    log_level: int = DEFAULT_LOG_LEVEL
    log_file: str = ""
    codecs: tuple[str, ...] = ()  # () = the default preference (sip/codecs.py)
    tls_cert: str = ""
    tls_key: str = ""
    tls_ca: str = ""
    tls_verify: bool = True
    srtp: str = "off"
    public_address: str = ""
    stun_servers: tuple[str, ...] = ()
    ice: bool = False

    def __post_init__(self) -> None:
        if not _is_sip_uri(self.uri):
            raise ConfigError(f"sip.uri: {self.uri!r} is not a SIP URI like sip:alice@host")
        if self.registrar and not _is_sip_uri(self.registrar):
            raise ConfigError(f"sip.registrar: {self.registrar!r} is not a SIP URI like sip:host")
        scheme = _uri_transport(self.registrar)
        if scheme and scheme != self.transport:
            raise ConfigError(
                f"sip.registrar: uses transport={scheme} but sip.transport is {self.transport!r}"
            )
        if self.password and not self.username:
            raise ConfigError("sip.username: required when sip.password is set")
        if self.transport not in TRANSPORTS:
            raise ConfigError(f"sip.transport: must be one of {', '.join(TRANSPORTS)}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"sip.port: {self.port} is not a port number (0-65535)")
        if not 1024 <= self.rtp_port <= 65000:
            raise ConfigError(f"sip.rtp_port: {self.rtp_port} must be between 1024 and 65000")
        if self.audio == "default":
            raise ConfigError(NO_SOUND_CARD)
        if self.audio != "null":
            raise ConfigError(f'sip.audio: {self.audio!r}: must be "null"')
        if not 1.0 <= self.media_timeout_s <= 3600.0:
            raise ConfigError("sip.media_timeout_s: must be between 1 and 3600 seconds")
        if not 1.0 <= self.ring_timeout_s <= 600.0:
            raise ConfigError("sip.ring_timeout_s: must be between 1 and 600 seconds")
        if not 30 <= self.register_expires_s <= 3600:
            raise ConfigError("sip.register_expires_s: must be between 30 and 3600 seconds")
        if not 5 <= self.keepalive_s <= 600:
            raise ConfigError("sip.keepalive_s: must be between 5 and 600 seconds")
        if self.agent_play and not Path(self.agent_play).is_file():
            raise ConfigError(f"sip.agent_play: {self.agent_play}: no such file")
        if self.second_call not in SECOND_CALL:
            raise ConfigError(f"sip.second_call: must be one of {', '.join(SECOND_CALL)}")
        for key in ("tls_cert", "tls_key", "tls_ca"):
            value = getattr(self, key)
            if value and not Path(value).is_file():
                raise ConfigError(f"sip.{key}: {value}: no such file")
            if value and self.transport != "tls":
                raise ConfigError(f'sip.{key}: only used with sip.transport = "tls"')
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("sip.tls_cert and sip.tls_key: give both or neither")
        if self.srtp not in SRTP:
            raise ConfigError(f"sip.srtp: must be one of {', '.join(SRTP)}")
        if any(not c or not isinstance(c, str) or " " in c for c in self.codecs):
            raise ConfigError('sip.codecs: a list of codec names like ["G722", "PCMU"]')
        if not 0 <= self.log_level <= 6:
            raise ConfigError("sip.log_level: must be between 0 (off) and 6 (everything)")
        if self.public_address and not _is_host(self.public_address):
            raise ConfigError(
                f"sip.public_address: {self.public_address!r} is not an IP address or host name"
            )
        if self.ice and self.bind and _is_loopback(self.bind):
            raise ConfigError(
                f"sip.ice: ICE gathers no candidates on a loopback address (sip.bind = "
                f'{self.bind!r}); bind to an interface address or to all ("")'
            )
        if len(self.stun_servers) > MAX_STUN_SERVERS:
            raise ConfigError(f"sip.stun_servers: at most {MAX_STUN_SERVERS} servers")
        for server in self.stun_servers:
            if not isinstance(server, str) or not _is_host_port(server):
                raise ConfigError(
                    f"sip.stun_servers: {server!r} is not a host or host:port "
                    '(like "stun.example.com:3478")'
                )

    @classmethod
    def from_table(cls, table: dict[str, Any]) -> SipConfig:
        known = {
            "uri": str,
            "registrar": str,
            "username": str,
            "password": str,
            "realm": str,
            "transport": str,
            "port": int,
            "bind": str,
            "rtp_port": int,
            "audio": str,
            "auto_answer": bool,
            "media_timeout_s": float,
            "agent_play": str,
            "agent_record_dir": str,
            "second_call": str,
            "ring_timeout_s": float,
            "register_expires_s": int,
            "keepalive_s": int,
            "log_level": int,
            "log_file": str,
            "codecs": list,
            "tls_cert": str,
            "tls_key": str,
            "tls_ca": str,
            "tls_verify": bool,
            "srtp": str,
            "public_address": str,
            "stun_servers": list,
            "ice": bool,
        }
        kwargs: dict[str, Any] = {}
        for key, value in table.items():
            kind = known.get(key)
            if kind is None:
                raise ConfigError(f"sip.{key}: unknown key (known: {', '.join(sorted(known))})")
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ConfigError(f"sip.{key}: expected {kind.__name__}, got {value!r}")
            kwargs[key] = tuple(value) if isinstance(value, list) else value
        if "uri" not in kwargs:
            raise ConfigError("sip.uri: missing (the account's SIP URI, e.g. sip:alice@host)")
        return cls(**kwargs)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything `assist sip` reads from its config file."""

    sip: SipConfig
    overlay: dict[str, Any] = field(default_factory=dict)  # parsed by overlay.auth


def read_config(path: str | Path) -> dict[str, Any]:
    """The tables of a TOML config file; an unreadable file or bad TOML is a ConfigError
    naming the file."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def load_settings(path: str | Path) -> Settings:
    """Read and check a config file; every problem is a ConfigError naming the file and key."""
    doc = read_config(path)
    try:
        for key in doc:
            if key not in ("sip", "overlay", "fleet"):  # [fleet]: read by fleet/config.py
                raise ConfigError(f"{key}: unknown table (known: fleet, overlay, sip)")
        sip = doc.get("sip")
        if not isinstance(sip, dict):
            raise ConfigError("sip: missing [sip] table")
        overlay = doc.get("overlay", {})
        if not isinstance(overlay, dict):
            raise ConfigError("overlay: must be a table")
        return Settings(sip=SipConfig.from_table(sip), overlay=overlay)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
