"""The `[srs]` table of `assist srs --config FILE`: the SIPREC recording server.

    [srs]
    bind = ""                    # listen address ("" = all interfaces)
    port = 5060                  # SIP port: UDP and TCP both listen on it (transport udp+tcp)
    transport = "udp+tcp"        # udp+tcp, udp, tcp or tls
    rtp_port = 20000             # first RTP port (two streams per session)
    max_sessions = 4             # sessions + supervisors listening; beyond: 503 with Retry-After;
                                 # lowered to the pjsua build's call slots (PyPI wheel: 4)
    retry_after_s = 30
    sessions_per_s = 6           # new sessions let in per second at most (1-6); beyond: 503
    agents = ["1*", "*@agents.example.com"]   # AoR patterns of the agents (`*` wildcard)
    fallback_agent_stream = 2    # metadata cannot say: the agent's stream by order (1 or 2)
    media_timeout_s = 30.0       # no RTP on any stream this long: the session is ended
    codecs = []                  # preference, as [sip] codecs
    srtp = "off"                 # off, optional, mandatory (SDES; over TLS)
    tls_cert = ""  tls_key = ""  tls_ca = ""
    log_level = 1  log_file = ""

Each key is declared once below (`assist.core.tables`); a bad one is one line naming the file
and the key (`FILE: srs.port: expected ...`), as for the other tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from assist.core.errors import ConfigError
from assist.core.tables import build, check_fields, check_tables, key, table_of
from assist.runtime.config import file_problem

DEFAULT_PORT = 5060
DEFAULT_RTP_PORT = 20000
DEFAULT_MAX_SESSIONS = 4  # the PyPI pjsua2's call slots, all usable: the gate answers the 503
MAX_SESSIONS = 30  # for pjsua builds with more call slots; the server lowers it to fit
# New sessions let in per second (sip/recorder.py ADMIT_WINDOW_S). Each session's 4 media
# sockets hold their slots in pjsip's socket table (64) until 500 ms after it ends, so sessions
# that end at once must not be replaced faster than that: (4 live + 4 ending + 6 new) x 4 = 56,
# the rest for pjsip's own (SIP listeners, TCP connections). Lower it, never higher than 6.
DEFAULT_SESSIONS_PER_S = 6
MAX_SESSIONS_PER_S = 6
DEFAULT_RETRY_AFTER_S = 30
DEFAULT_MEDIA_TIMEOUT_S = 30.0
TABLES = ("srs", "overlay", "fleet")  # what `assist srs --config` reads
Transport = Literal["udp+tcp", "udp", "tcp", "tls"]
Srtp = Literal["off", "optional", "mandatory"]


def _pattern(value: str) -> str | None:
    return None if value.strip() and " " not in value else ""


def _codec(value: str) -> str | None:
    return None if value and " " not in value else ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SrsConfig:
    bind: str = key("")
    port: int = key(DEFAULT_PORT, lo=0, hi=65535, what="a port number")
    transport: Transport = key("udp+tcp")
    rtp_port: int = key(DEFAULT_RTP_PORT, lo=1024, hi=65000, what="a port number")
    max_sessions: int = key(DEFAULT_MAX_SESSIONS, lo=1, hi=MAX_SESSIONS)
    retry_after_s: int = key(DEFAULT_RETRY_AFTER_S, lo=1, hi=3600, unit="seconds")
    sessions_per_s: int = key(
        DEFAULT_SESSIONS_PER_S,
        lo=1,
        hi=MAX_SESSIONS_PER_S,
        what="a number of new sessions per second",
        doc="beyond it 503: pjsip's socket table",
    )
    agents: tuple[str, ...] = key(
        (), what='a list of AoR patterns like ["1*", "*@pbx.example"]', check=_pattern
    )
    fallback_agent_stream: Literal[1, 2] = key(2, doc="the agent's stream by order")
    media_timeout_s: float = key(DEFAULT_MEDIA_TIMEOUT_S, lo=1, hi=3600, unit="seconds")
    codecs: tuple[str, ...] = key(
        (), what='a list of codec names like ["PCMU", "PCMA"]', check=_codec
    )
    srtp: Srtp = key("off")
    tls_cert: str = key("", what="an existing PEM file", check=file_problem)
    tls_key: str = key("", what="an existing PEM file", check=file_problem)
    tls_ca: str = key("", what="an existing PEM file", check=file_problem)
    log_level: int = key(1, lo=0, hi=6, what="a log level (0 off, 6 all)")
    log_file: str = key("")

    def __post_init__(self) -> None:
        check_fields(self, "srs")
        for name in ("tls_cert", "tls_key", "tls_ca"):
            if getattr(self, name) and self.transport != "tls":
                raise ConfigError('only used with srs.transport = "tls"', key=f"srs.{name}")
        if self.transport == "tls":
            for name in ("tls_cert", "tls_key"):
                if not getattr(self, name):
                    raise ConfigError('required with srs.transport = "tls"', key=f"srs.{name}")

    @classmethod
    def from_table(cls, table: dict[str, Any]) -> SrsConfig:
        return build(cls, table, where="srs")


def srs_table(doc: dict[str, Any], path: str) -> SrsConfig:
    """The `[srs]` table of a parsed config file (defaults if absent)."""
    try:
        check_tables(doc, TABLES)
        return SrsConfig.from_table(table_of(doc, "srs"))
    except ConfigError as exc:
        raise exc.in_file(path) from None
