"""The `[srs]` table of `assist srs --config FILE`: the SIPREC recording server.

    [srs]
    bind = ""                    # listen address ("" = all interfaces)
    port = 5060                  # SIP port: UDP and TCP both listen on it (transport udp+tcp)
    transport = "udp+tcp"        # udp+tcp, udp, tcp or tls
    rtp_port = 20000             # first RTP port (two streams per session)
    max_sessions = 3             # beyond: 503 with Retry-After (the client fails over);
                                 # lowered to what the pjsua build holds (PyPI wheel: 3)
    retry_after_s = 30
    agents = ["1*", "*@agents.example.com"]   # AoR patterns of the agents (`*` wildcard)
    fallback_agent_stream = 2    # metadata cannot say: the agent's stream by order (1 or 2)
    media_timeout_s = 30.0       # no RTP on any stream this long: the session is ended
    codecs = []                  # preference, as [sip] codecs
    srtp = "off"                 # off, optional, mandatory (SDES; over TLS)
    tls_cert = ""  tls_key = ""  tls_ca = ""
    log_level = 1  log_file = ""

A bad key is a ConfigError naming it (`srs.port: ...`), as for the other tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assist.core.errors import ConfigError

DEFAULT_PORT = 5060
DEFAULT_RTP_PORT = 20000
DEFAULT_MAX_SESSIONS = 3  # the PyPI pjsua2 holds 4 calls; one is kept to answer 503
MAX_SESSIONS = 30  # for pjsua builds with more call slots; the server lowers it to fit
DEFAULT_RETRY_AFTER_S = 30
DEFAULT_MEDIA_TIMEOUT_S = 30.0
TRANSPORTS = ("udp+tcp", "udp", "tcp", "tls")
SRTP = ("off", "optional", "mandatory")


@dataclass(frozen=True, slots=True, kw_only=True)
class SrsConfig:
    bind: str = ""
    port: int = DEFAULT_PORT
    transport: str = "udp+tcp"
    rtp_port: int = DEFAULT_RTP_PORT
    max_sessions: int = DEFAULT_MAX_SESSIONS
    retry_after_s: int = DEFAULT_RETRY_AFTER_S
    agents: tuple[str, ...] = ()
    fallback_agent_stream: int = 2
    media_timeout_s: float = DEFAULT_MEDIA_TIMEOUT_S
    codecs: tuple[str, ...] = ()
    srtp: str = "off"
    tls_cert: str = ""
    tls_key: str = ""
    tls_ca: str = ""
    log_level: int = 1
    log_file: str = ""

    def __post_init__(self) -> None:
        if self.transport not in TRANSPORTS:
            raise ConfigError(f"srs.transport: must be one of {', '.join(TRANSPORTS)}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"srs.port: {self.port} is not a port number (0-65535)")
        if not 1024 <= self.rtp_port <= 65000:
            raise ConfigError(f"srs.rtp_port: {self.rtp_port} must be between 1024 and 65000")
        if not 1 <= self.max_sessions <= MAX_SESSIONS:
            raise ConfigError(f"srs.max_sessions: must be between 1 and {MAX_SESSIONS}")
        if not 1 <= self.retry_after_s <= 3600:
            raise ConfigError("srs.retry_after_s: must be between 1 and 3600 seconds")
        for pattern in self.agents:
            if not isinstance(pattern, str) or not pattern.strip() or " " in pattern:
                raise ConfigError(
                    f'srs.agents: {pattern!r}: an AoR pattern like "1*" or "*@pbx.example"'
                )
        if self.fallback_agent_stream not in (1, 2):
            raise ConfigError("srs.fallback_agent_stream: 1 or 2 (the agent's stream by order)")
        if not 1.0 <= self.media_timeout_s <= 3600.0:
            raise ConfigError("srs.media_timeout_s: must be between 1 and 3600 seconds")
        if any(not isinstance(c, str) or not c or " " in c for c in self.codecs):
            raise ConfigError('srs.codecs: a list of codec names like ["PCMU", "PCMA"]')
        if self.srtp not in SRTP:
            raise ConfigError(f"srs.srtp: must be one of {', '.join(SRTP)}")
        for key in ("tls_cert", "tls_key", "tls_ca"):
            value = getattr(self, key)
            if value and not Path(value).is_file():
                raise ConfigError(f"srs.{key}: {value}: no such file")
            if value and self.transport != "tls":
                raise ConfigError(f'srs.{key}: only used with srs.transport = "tls"')
        if self.transport == "tls" and not (self.tls_cert and self.tls_key):
            raise ConfigError('srs.tls_cert and srs.tls_key: required with transport = "tls"')
        if not 0 <= self.log_level <= 6:
            raise ConfigError("srs.log_level: must be between 0 (off) and 6 (everything)")

    @classmethod
    def from_table(cls, table: dict[str, Any]) -> SrsConfig:
        known: dict[str, type] = {
            "bind": str, "port": int, "transport": str, "rtp_port": int, "max_sessions": int,
            "retry_after_s": int, "agents": list, "fallback_agent_stream": int,
            "media_timeout_s": float, "codecs": list, "srtp": str, "tls_cert": str,
            "tls_key": str, "tls_ca": str, "log_level": int, "log_file": str,
        }  # fmt: skip
        kwargs: dict[str, Any] = {}
        for key, value in table.items():
            kind = known.get(key)
            if kind is None:
                raise ConfigError(f"srs.{key}: unknown key (known: {', '.join(sorted(known))})")
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ConfigError(f"srs.{key}: expected {kind.__name__}, got {value!r}")
            kwargs[key] = tuple(value) if isinstance(value, list) else value
        return cls(**kwargs)


def srs_table(doc: dict[str, Any], path: str) -> SrsConfig:
    """The `[srs]` table of a parsed config file (defaults if absent)."""
    for key in doc:
        if key not in ("srs", "overlay", "fleet"):
            raise ConfigError(f"{path}: {key}: unknown table (known: fleet, overlay, srs)")
    table = doc.get("srs", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: srs: must be a table")
    try:
        return SrsConfig.from_table(table)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
