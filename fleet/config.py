"""The `[fleet]` table: where the floor's Redis is, who we are to it, and the bounds we keep.

    [fleet]
    url = "redis://redis.floor.example.com:6379/0"   # or rediss:// (TLS)
    username = "plugin-alice"                         # Redis ACL user (see fleet/acl.py)
    password = "…"                                    # or env ASSIST_FLEET_PASSWORD
    agent = "alice"                                   # this plugin's agent id (default: the
                                                      # overlay's agent name)
    tls_ca = "/etc/ssl/floor-ca.pem"                  # rediss: the CA to trust (default: system)
    prefix = "assist"                                 # key prefix (several floors, one Redis)
    call_maxlen = 20000                               # entries kept per call stream
    floor_maxlen = 100000                             # entries kept in the floor stream
    heartbeat_s = 2.0                                 # how often a plugin says it is alive
    heartbeat_ttl_s = 6.0                             # a call is marked lost this long after
    backlog = 50000                                   # events kept while Redis is down
    ended_ttl_s = 3600                                # an ended call's stream is kept this long
    cluster = false                                   # url names one node of a Redis Cluster

Each key is declared once below (`assist.core.tables`); a bad one is one line naming the file
and the key (`FILE: fleet.heartbeat_ttl_s: ...`), as for the other tables.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from assist.core.errors import ConfigError
from assist.core.tables import build, check_fields, key, table_of
from assist.runtime.config import file_problem

DEFAULT_PREFIX = "assist"
DEFAULT_CALL_MAXLEN = 20_000  # a 1-hour call is ~8,000 events (meters twice a second)
DEFAULT_FLOOR_MAXLEN = 100_000
DEFAULT_HEARTBEAT_S = 2.0
DEFAULT_HEARTBEAT_TTL_S = 6.0
DEFAULT_BACKLOG = 50_000  # ~2 h of one call's events, ~25 MB at worst
DEFAULT_ENDED_TTL_S = 3600.0
PASSWORD_ENV = "ASSIST_FLEET_PASSWORD"
SCHEMES = ("redis", "rediss")
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
NAME = "1-64 letters, digits and _ . @ -"
MAXLEN_LO, MAXLEN_HI = 100, 10_000_000


def _url(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in SCHEMES or not parts.hostname:
        return ""
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "bad port"
    return None


def _name(value: str) -> str | None:
    return None if _NAME.match(value) else ""


def _optional_name(value: str) -> str | None:
    return _name(value) if value else None


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetConfig:
    """Connection and bounds for the floor bus; `agent` is filled in by the plugin."""

    url: str = key(
        what="a Redis URL like redis://host:6379/0 (rediss:// for TLS)",
        check=_url,
        doc='e.g. url = "redis://127.0.0.1:6379/0"',
    )
    username: str = key("")
    password: str = key("", secret=True)
    agent: str = key("", what=f"an agent name of {NAME}", check=_optional_name)
    tls_ca: str = key("", what="an existing PEM file", check=file_problem)
    prefix: str = key(DEFAULT_PREFIX, what=f"a key prefix of {NAME}", check=_name)
    call_maxlen: int = key(DEFAULT_CALL_MAXLEN, lo=MAXLEN_LO, hi=MAXLEN_HI)
    floor_maxlen: int = key(DEFAULT_FLOOR_MAXLEN, lo=MAXLEN_LO, hi=MAXLEN_HI)
    heartbeat_s: float = key(DEFAULT_HEARTBEAT_S, lo=0.1, hi=60, unit="seconds")
    heartbeat_ttl_s: float = key(DEFAULT_HEARTBEAT_TTL_S, lo=0.2, hi=600, unit="seconds")
    backlog: int = key(DEFAULT_BACKLOG, lo=MAXLEN_LO, hi=MAXLEN_HI)
    ended_ttl_s: float = key(DEFAULT_ENDED_TTL_S, lo=60, hi=30 * 86400, unit="seconds")
    cluster: bool = key(False)

    def __post_init__(self) -> None:
        check_fields(self, "fleet")
        parts = urlsplit(self.url)
        if self.password and not self.username and not parts.username:
            raise ConfigError(
                "required when fleet.password is set (ACL user)", key="fleet.username"
            )
        if self.cluster and parts.path not in ("", "/", "/0"):
            raise ConfigError(f"{self.url!r}: a Redis Cluster has database 0 only", key="fleet.url")
        if self.tls_ca and parts.scheme != "rediss":
            raise ConfigError("only with a rediss:// url", key="fleet.tls_ca")
        if self.heartbeat_ttl_s < 2 * self.heartbeat_s:
            raise ConfigError(
                f"expected at least twice fleet.heartbeat_s ({self.heartbeat_s:g}), "
                f"got {self.heartbeat_ttl_s:g}",
                key="fleet.heartbeat_ttl_s",
            )

    @classmethod
    def from_table(cls, table: dict[str, Any], *, env: dict[str, str] | None = None) -> FleetConfig:
        secret = (os.environ if env is None else env).get(PASSWORD_ENV)
        if secret:  # the environment wins: keeps the password out of the file
            table = {**table, "password": secret}
        return build(cls, table, where="fleet")


def fleet_table(doc: dict[str, Any], path: str) -> FleetConfig | None:
    """The `[fleet]` table of a parsed config file, or None when the floor is not configured."""
    if "fleet" not in doc:
        return None
    try:
        return FleetConfig.from_table(table_of(doc, "fleet"))
    except ConfigError as exc:
        raise exc.in_file(path) from None
