"""Who may use the overlay: tokens and roles, the `[overlay]` config table, Origin checks.

Two roles. An *agent* token is bound to an agent name and sees only calls whose
`call_started.data.agent` is that name; a *supervisor* token sees every call and may ask for
listen / whisper / barge. Tokens come from the config file or are generated at start (and
printed as page URLs with `?token=`). The websocket also checks the browser's Origin header,
so a page on another site cannot read calls even if it guesses the port.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import urlsplit

from assist.core.errors import ConfigError

Role = Literal["agent", "supervisor"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_CLIENT_QUEUE = 256
TOKEN_MIN_CHARS = 16
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def new_token() -> str:
    """A fresh random token (24 URL-safe characters, 144 bits)."""
    return secrets.token_urlsafe(18)


@dataclass(frozen=True, slots=True)
class Principal:
    """One token holder: an agent (sees their own calls) or a supervisor (sees all)."""

    role: Role
    name: str
    token: str = field(repr=False)
    sip: str = ""  # a supervisor's SIP URI, dialled for listen/whisper/barge

    @property
    def supervisor(self) -> bool:
        return self.role == "supervisor"

    def may_see(self, agent: str | None) -> bool:
        """Whether this principal may see a call handled by `agent` (None: not known yet)."""
        return self.supervisor or (agent is not None and agent == self.name)

    @property
    def label(self) -> str:
        return f"{self.role}:{self.name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class OverlayConfig:
    """The overlay server's settings: bind address, allowed origins, tokens, client queue."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    origins: tuple[str, ...] = ()  # extra allowed Origins, e.g. "https://crm.example.com"
    agents: tuple[Principal, ...] = ()
    supervisors: tuple[Principal, ...] = ()
    client_queue: int = DEFAULT_CLIENT_QUEUE

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"overlay.port: {self.port} is not a port number (0-65535)")
        if not 16 <= self.client_queue <= 100_000:
            raise ConfigError("overlay.client_queue: must be between 16 and 100000")
        for origin in self.origins:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
                raise ConfigError(
                    f"overlay.origins: {origin!r} is not an origin like http://host:port"
                )
        seen: set[str] = set()
        for p in (*self.agents, *self.supervisors):
            if len(p.token) < TOKEN_MIN_CHARS:
                raise ConfigError(
                    f"overlay.{p.role}: the token of {p.name!r} is shorter than "
                    f"{TOKEN_MIN_CHARS} characters"
                )
            if p.token in seen:
                raise ConfigError(f"overlay.{p.role}: the token of {p.name!r} is used twice")
            seen.add(p.token)

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> OverlayConfig:
        """Parse an `[overlay]` TOML table; a bad key raises ConfigError naming it.

        [overlay]
        host = "127.0.0.1"
        port = 8765
        origins = ["https://crm.example.com"]
        [[overlay.agent]]
        name = "alice"
        token = "a-long-random-string"
        [[overlay.supervisor]]
        name = "sue"
        token = "another-long-random-string"
        sip = "sip:sue@pbx.example.com"
        """
        known = {"host", "port", "origins", "agent", "supervisor", "client_queue"}
        for key in table:
            if key not in known:
                raise ConfigError(f"overlay.{key}: unknown key (known: {', '.join(sorted(known))})")
        host = _typed(table, "host", str, DEFAULT_HOST)
        port = _typed(table, "port", int, DEFAULT_PORT)
        queue = _typed(table, "client_queue", int, DEFAULT_CLIENT_QUEUE)
        origins = _typed(table, "origins", list, [])
        if not all(isinstance(o, str) for o in origins):
            raise ConfigError("overlay.origins: must be a list of strings")
        return cls(
            host=host,
            port=port,
            client_queue=queue,
            origins=tuple(o.rstrip("/") for o in origins),
            agents=_principals(table.get("agent", []), "agent"),
            supervisors=_principals(table.get("supervisor", []), "supervisor"),
        )

    def with_tokens(self, agent: str = "demo-agent") -> OverlayConfig:
        """This config, with a generated token for `agent` and a supervisor if none are set."""
        agents = self.agents or (Principal("agent", agent, new_token()),)
        sups = self.supervisors or (Principal("supervisor", "supervisor", new_token()),)
        return replace(self, agents=agents, supervisors=sups)


def _typed(table: Mapping[str, Any], key: str, kind: type, default: Any) -> Any:
    value = table.get(key, default)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"overlay.{key}: expected {kind.__name__}, got {value!r}")
    return value


def _principals(rows: Any, role: Role) -> tuple[Principal, ...]:
    if not isinstance(rows, list):
        raise ConfigError(f"overlay.{role}: must be an array of tables ([[overlay.{role}]])")
    out = []
    for i, row in enumerate(rows):
        where = f"overlay.{role}[{i}]"
        if not isinstance(row, dict):
            raise ConfigError(f"{where}: must be a table with name and token")
        allowed = {"name", "token", "sip"} if role == "supervisor" else {"name", "token"}
        for key in row:
            if key not in allowed:
                raise ConfigError(f"{where}.{key}: unknown key")
        for key in ("name", "token"):
            if not isinstance(row.get(key), str) or not row[key]:
                raise ConfigError(f"{where}.{key}: missing or not a string")
        sip = row.get("sip", "")
        if not isinstance(sip, str):
            raise ConfigError(f"{where}.sip: must be a string")
        out.append(Principal(role, row["name"], row["token"], sip))
    return tuple(out)


class Tokens:
    """Looks up a presented token among the configured principals in constant time."""

    def __init__(self, principals: Iterable[Principal]) -> None:
        self._all = tuple(principals)

    def check(self, token: str | None) -> Principal | None:
        if not token:
            return None
        found = None
        for p in self._all:  # compare against every token so timing does not reveal which
            if hmac.compare_digest(p.token.encode(), token.encode()):
                found = p
        return found


def origin_allowed(origin: str | None, *, port: int, host: str, extra: Iterable[str]) -> bool:
    """No Origin (a non-browser client) or one of ours: a loopback name or the bind host on
    our port, or an origin the config lists. Anything else is another site's page."""
    if origin is None:
        return True
    origin = origin.rstrip("/")
    if origin in set(extra):
        return True
    parts = urlsplit(origin)
    try:
        oport = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    hostname = parts.hostname or ""
    names = LOOPBACK_NAMES | {host}
    return parts.scheme == "http" and oport == port and hostname in names
