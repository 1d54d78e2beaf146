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

A bad key is a ConfigError naming it (`fleet.heartbeat_ttl_s: ...`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from assist.core.errors import ConfigError

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


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetConfig:
    """Connection and bounds for the floor bus; `agent` is filled in by the plugin."""

    url: str
    username: str = ""
    password: str = field(default="", repr=False)
    agent: str = ""
    tls_ca: str = ""
    prefix: str = DEFAULT_PREFIX
    call_maxlen: int = DEFAULT_CALL_MAXLEN
    floor_maxlen: int = DEFAULT_FLOOR_MAXLEN
    heartbeat_s: float = DEFAULT_HEARTBEAT_S
    heartbeat_ttl_s: float = DEFAULT_HEARTBEAT_TTL_S
    backlog: int = DEFAULT_BACKLOG
    ended_ttl_s: float = DEFAULT_ENDED_TTL_S
    cluster: bool = False

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in SCHEMES or not parts.hostname:
            raise ConfigError(
                f"fleet.url: {self.url!r} is not a Redis URL like redis://host:6379/0 "
                "(rediss:// for TLS)"
            )
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise ConfigError(f"fleet.url: {self.url!r} has a bad port") from None
        if self.password and not self.username and not parts.username:
            raise ConfigError("fleet.username: required when fleet.password is set (ACL user)")
        if self.agent and not _NAME.match(self.agent):
            raise ConfigError(f"fleet.agent: {self.agent!r}: use 1-64 letters, digits and _ . @ -")
        if not _NAME.match(self.prefix):
            raise ConfigError(f"fleet.prefix: {self.prefix!r}: use letters, digits and _ . @ -")
        if self.cluster and parts.path not in ("", "/", "/0"):
            raise ConfigError(f"fleet.url: {self.url!r}: a Redis Cluster has database 0 only")
        if self.tls_ca and parts.scheme != "rediss":
            raise ConfigError("fleet.tls_ca: only with a rediss:// url")
        if self.tls_ca and not os.path.isfile(self.tls_ca):
            raise ConfigError(f"fleet.tls_ca: {self.tls_ca}: no such file")
        for key, low, high in (
            ("call_maxlen", 100, 10_000_000),
            ("floor_maxlen", 100, 10_000_000),
            ("backlog", 100, 10_000_000),
        ):
            if not low <= getattr(self, key) <= high:
                raise ConfigError(f"fleet.{key}: must be between {low} and {high}")
        if not 60 <= self.ended_ttl_s <= 30 * 86400:
            raise ConfigError("fleet.ended_ttl_s: must be between 60 s and 30 days")
        if not 0.1 <= self.heartbeat_s <= 60:
            raise ConfigError("fleet.heartbeat_s: must be between 0.1 and 60 seconds")
        if not 2 * self.heartbeat_s <= self.heartbeat_ttl_s <= 600:
            raise ConfigError(
                "fleet.heartbeat_ttl_s: must be at least twice heartbeat_s and at most 600"
            )

    @classmethod
    def from_table(cls, table: dict[str, Any], *, env: dict[str, str] | None = None) -> FleetConfig:
        known: dict[str, type] = {
            "url": str,
            "username": str,
            "password": str,
            "agent": str,
            "tls_ca": str,
            "prefix": str,
            "call_maxlen": int,
            "floor_maxlen": int,
            "heartbeat_s": float,
            "heartbeat_ttl_s": float,
            "backlog": int,
            "ended_ttl_s": float,
            "cluster": bool,
        }
        kwargs: dict[str, Any] = {}
        for key, value in table.items():
            kind = known.get(key)
            if kind is None:
                raise ConfigError(f"fleet.{key}: unknown key (known: {', '.join(sorted(known))})")
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ConfigError(f"fleet.{key}: expected {kind.__name__}, got {value!r}")
            kwargs[key] = value
        if "url" not in kwargs:
            raise ConfigError('fleet.url: missing (e.g. url = "redis://127.0.0.1:6379/0")')
        secret = (os.environ if env is None else env).get(PASSWORD_ENV)
        if secret:  # the environment wins: keeps the password out of the file
            kwargs["password"] = secret
        return cls(**kwargs)


def fleet_table(doc: dict[str, Any], path: str) -> FleetConfig | None:
    """The `[fleet]` table of a parsed config file, or None when the floor is not configured."""
    table = doc.get("fleet")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: fleet: must be a table")
    try:
        return FleetConfig.from_table(table)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
