"""Who may use the overlay: tokens and roles, the `[overlay]` config table, Origin checks.

Two roles. An *agent* token is bound to an agent name and sees only calls whose
`call_started.data.agent` is that name; a *supervisor* token sees every call and may ask for
listen / whisper / barge. Placing calls (`dial`) is a per-token permission. Tokens come from
the config file or are generated at start (and printed as page URLs with `?token=`). The
websocket also checks the browser's Origin header, so a page on another site cannot read calls
even if it guesses the port. Beyond loopback the server needs TLS (tokens travel in URLs), or
an explicit `insecure`.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from assist.core.errors import ConfigError

Role = Literal["agent", "supervisor"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_CLIENT_QUEUE = 256
DEFAULT_MAX_CONNECTIONS = 256  # TCP connections at any stage, handshakes included
DEFAULT_MAX_PER_TOKEN = 16  # open websockets per token (an agent's tabs, a supervisor's)
DEFAULT_MESSAGES_PER_S = 10.0  # each connection's sustained client-message rate (after a burst)
DEFAULT_KEEP_ENDED_S = 300.0  # an ended call stays on the supervisor board this long
TOKEN_MIN_CHARS = 16
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
# scheme://host[:port], nothing else: no userinfo, path, query, spaces or leading-zero ports
_ORIGIN = re.compile(
    r"(https?)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)"
    r"(?::([1-9][0-9]{0,4}))?"
)


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
    dial: bool = False  # may place calls from the softphone (`dial`)
    aors: tuple[str, ...] = ()  # an agent's AoR patterns: recorded (SIPREC) calls they are in

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
    """The overlay server's settings: bind address, TLS, allowed origins, tokens, limits."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    origins: tuple[str, ...] = ()  # extra allowed Origins, e.g. "https://crm.example.com"
    agents: tuple[Principal, ...] = ()
    supervisors: tuple[Principal, ...] = ()
    client_queue: int = DEFAULT_CLIENT_QUEUE
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_connections_per_token: int = DEFAULT_MAX_PER_TOKEN
    messages_per_s: float = DEFAULT_MESSAGES_PER_S
    tls_cert: str = ""  # PEM certificate chain: serve https:// and wss://
    tls_key: str = ""  # its PEM private key
    insecure: bool = False  # allow plain http beyond loopback (tokens travel in clear)
    keep_ended_s: float = DEFAULT_KEEP_ENDED_S  # ended calls stay on the board this long

    def __post_init__(self) -> None:
        if not self.host.strip():
            raise ConfigError('overlay.host: must not be empty (use "127.0.0.1" or an address)')
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("overlay.tls_cert: tls_cert and tls_key go together")
        if not self.tls and not self.insecure and not is_loopback(self.host):
            raise ConfigError(
                f"overlay.host: {self.host} is beyond loopback: serving there needs TLS "
                "(tls_cert and tls_key, or --tls-cert/--tls-key) or --insecure"
            )
        if not 1 <= self.max_connections <= 100_000:
            raise ConfigError("overlay.max_connections: must be between 1 and 100000")
        if not 1 <= self.max_connections_per_token <= 100_000:
            raise ConfigError("overlay.max_connections_per_token: must be between 1 and 100000")
        if not 0.1 <= self.messages_per_s <= 1_000_000:
            raise ConfigError("overlay.messages_per_s: must be between 0.1 and 1000000")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"overlay.port: {self.port} is not a port number (0-65535)")
        if not 0 <= self.keep_ended_s <= 7 * 86400:
            raise ConfigError("overlay.keep_ended_s: must be between 0 and 604800 (a week)")
        if not 16 <= self.client_queue <= 100_000:
            raise ConfigError("overlay.client_queue: must be between 16 and 100000")
        for origin in self.origins:
            if _ORIGIN.fullmatch(origin) is None:
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

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert)

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> OverlayConfig:
        """Parse an `[overlay]` TOML table; a bad key raises ConfigError naming it.

        [overlay]
        host = "127.0.0.1"
        port = 8765
        origins = ["https://crm.example.com"]
        tls_cert = "/etc/assist/overlay.crt"   # https/wss; needed beyond loopback
        tls_key = "/etc/assist/overlay.key"
        keep_ended_s = 300                     # ended calls stay on the board this long
        [[overlay.agent]]
        name = "alice"
        token = "a-long-random-string"
        dial = true                            # may place calls (default false)
        [[overlay.supervisor]]
        name = "sue"
        token = "another-long-random-string"
        sip = "sip:sue@pbx.example.com"
        """
        known = {
            "host", "port", "origins", "agent", "supervisor", "client_queue", "max_connections",
            "max_connections_per_token", "messages_per_s", "tls_cert", "tls_key", "insecure",
            "keep_ended_s",
        }  # fmt: skip
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
            max_connections=_typed(table, "max_connections", int, DEFAULT_MAX_CONNECTIONS),
            max_connections_per_token=_typed(
                table, "max_connections_per_token", int, DEFAULT_MAX_PER_TOKEN
            ),
            messages_per_s=float(
                _typed(table, "messages_per_s", (int, float), DEFAULT_MESSAGES_PER_S)
            ),
            tls_cert=_typed(table, "tls_cert", str, ""),
            tls_key=_typed(table, "tls_key", str, ""),
            insecure=_typed(table, "insecure", bool, False),
            keep_ended_s=float(_typed(table, "keep_ended_s", (int, float), DEFAULT_KEEP_ENDED_S)),
            origins=tuple(o.rstrip("/") for o in origins),
            agents=_principals(table.get("agent", []), "agent"),
            supervisors=_principals(table.get("supervisor", []), "supervisor"),
        )

    def with_tokens(self, agent: str = "demo-agent") -> OverlayConfig:
        """This config, with a generated token for `agent` and a supervisor if none are set.

        A generated agent token may dial: it is the one-user softphone of `assist demo`/`sip`.
        """
        agents = self.agents or (Principal("agent", agent, new_token(), dial=True),)
        sups = self.supervisors or (Principal("supervisor", "supervisor", new_token()),)
        return replace(self, agents=agents, supervisors=sups)


def _typed(table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = table.get(key, default)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        name = kind.__name__ if isinstance(kind, type) else "number"
        raise ConfigError(f"overlay.{key}: expected {name}, got {value!r}")
    return value


def _principals(rows: Any, role: Role) -> tuple[Principal, ...]:
    if not isinstance(rows, list):
        raise ConfigError(f"overlay.{role}: must be an array of tables ([[overlay.{role}]])")
    out = []
    for i, row in enumerate(rows):
        where = f"overlay.{role}[{i}]"
        if not isinstance(row, dict):
            raise ConfigError(f"{where}: must be a table with name and token")
        allowed = {"name", "token", "dial"} | ({"sip"} if role == "supervisor" else {"aors"})
        for key in row:
            if key not in allowed:
                raise ConfigError(f"{where}.{key}: unknown key")
        for key in ("name", "token"):
            if not isinstance(row.get(key), str) or not row[key]:
                raise ConfigError(f"{where}.{key}: missing or not a string")
        sip = row.get("sip", "")
        if not isinstance(sip, str):
            raise ConfigError(f"{where}.sip: must be a string")
        dial = row.get("dial", False)
        if not isinstance(dial, bool):
            raise ConfigError(f"{where}.dial: must be true or false")
        aors = row.get("aors", [])
        if not isinstance(aors, list) or not all(isinstance(a, str) and a for a in aors):
            raise ConfigError(f'{where}.aors: a list of AoR patterns like ["sip:1001@pbx", "1*"]')
        out.append(Principal(role, row["name"], row["token"], sip, dial, tuple(aors)))
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


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps the server on this machine (a name other than localhost
    may resolve anywhere, so it counts as beyond loopback)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def origin_allowed(
    origin: str | None, *, port: int, host: str, extra: Iterable[str], tls: bool = False
) -> bool:
    """No Origin (a non-browser client) or one of ours: a loopback name or the bind host on
    our port and scheme, or an origin the config lists. Anything else is another site's page.

    Parsed strictly (`scheme://host[:port]`, as browsers send it): userinfo, a path, a query,
    spaces or a leading-zero port make it foreign."""
    if origin is None:
        return True
    m = _ORIGIN.fullmatch(origin)
    if m is None:
        return False
    if origin in set(extra):
        return True
    scheme, hostname, oport = m.group(1), m.group(2).lower(), m.group(3)
    number = int(oport) if oport else (443 if scheme == "https" else 80)
    names = LOOPBACK_NAMES | {host.lower()}
    return scheme == ("https" if tls else "http") and number == port and hostname in names
