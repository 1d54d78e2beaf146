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
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from assist.core.errors import ConfigError
from assist.core.hosts import is_loopback
from assist.core.tables import check_fields, key, rows_of, values

Role = Literal["agent", "supervisor"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_CLIENT_QUEUE = 256
DEFAULT_MAX_CONNECTIONS = 256  # TCP connections at any stage, handshakes included
DEFAULT_MAX_PER_TOKEN = 16  # open websockets per token (an agent's tabs, a supervisor's)
DEFAULT_MESSAGES_PER_S = 10.0  # each connection's sustained client-message rate (after a burst)
DEFAULT_KEEP_ENDED_S = 300.0  # an ended call stays on the supervisor board this long
TOKEN_MIN_CHARS = 16
# scheme://host[:port], nothing else: no userinfo, path, query, spaces or leading-zero ports
_ORIGIN = re.compile(
    r"(https?)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)"
    r"(?::([1-9][0-9]{0,4}))?"
)


def new_token() -> str:
    """A fresh random token (24 URL-safe characters, 144 bits)."""
    return secrets.token_urlsafe(18)


def _nonempty(value: str) -> str | None:
    return None if value.strip() else ""


def _token(value: str) -> str | None:
    return None if len(value) >= TOKEN_MIN_CHARS else ""


def _origin(value: str) -> str | None:
    return None if _ORIGIN.fullmatch(value.rstrip("/")) else ""


@dataclass(frozen=True, slots=True)
class Principal:
    """One token holder: an agent (sees their own calls) or a supervisor (sees all); the keys
    of an `[[overlay.agent]]` or `[[overlay.supervisor]]` row."""

    role: Role
    name: str = key(what="a name", check=_nonempty)
    token: str = key(
        what=f"a token of at least {TOKEN_MIN_CHARS} characters", check=_token, secret=True
    )
    sip: str = key("")  # a supervisor's SIP URI, dialled for listen/whisper/barge
    dial: bool = key(False)  # may place calls from the softphone (`dial`)
    # an agent's AoR patterns: recorded (SIPREC) calls they are in
    aors: tuple[str, ...] = key(
        (), what='a list of AoR patterns like ["sip:1001@pbx", "1*"]', check=_nonempty
    )

    @property
    def supervisor(self) -> bool:
        return self.role == "supervisor"

    def may_see(self, agent: str | None) -> bool:
        """Whether this principal may see a call handled by `agent` (None: not known yet)."""
        return self.supervisor or (agent is not None and agent == self.name)

    @property
    def label(self) -> str:
        return f"{self.role}:{self.name}"


ROW_KEYS: dict[Role, tuple[str, ...]] = {
    "agent": ("name", "token", "dial", "aors"),
    "supervisor": ("name", "token", "dial", "sip"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class OverlayConfig:
    """The `[overlay]` table: bind address, TLS, allowed origins, tokens, limits.

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

    host: str = key(DEFAULT_HOST, what='an address like "127.0.0.1"', check=_nonempty)
    port: int = key(DEFAULT_PORT, lo=0, hi=65535, what="a port number")
    # extra allowed Origins, e.g. "https://crm.example.com"
    origins: tuple[str, ...] = key(
        (), what='a list of origins like "http://host:port"', check=_origin
    )
    agents: tuple[Principal, ...] = ()  # [[overlay.agent]]
    supervisors: tuple[Principal, ...] = ()  # [[overlay.supervisor]]
    client_queue: int = key(DEFAULT_CLIENT_QUEUE, lo=16, hi=100_000)
    max_connections: int = key(DEFAULT_MAX_CONNECTIONS, lo=1, hi=100_000)
    max_connections_per_token: int = key(DEFAULT_MAX_PER_TOKEN, lo=1, hi=100_000)
    messages_per_s: float = key(DEFAULT_MESSAGES_PER_S, lo=0.1, hi=1_000_000)
    tls_cert: str = key("")  # PEM certificate chain: serve https:// and wss://
    tls_key: str = key("")  # its PEM private key
    insecure: bool = key(False)  # allow plain http beyond loopback (tokens travel in clear)
    # ended calls stay on the board this long
    keep_ended_s: float = key(DEFAULT_KEEP_ENDED_S, lo=0, hi=7 * 86400, unit="seconds")

    def __post_init__(self) -> None:
        check_fields(self, "overlay")
        object.__setattr__(self, "origins", tuple(o.rstrip("/") for o in self.origins))
        if bool(self.tls_cert) != bool(self.tls_key):
            missing, given = ("tls_key", "tls_cert") if self.tls_cert else ("tls_cert", "tls_key")
            raise ConfigError(
                f"required with overlay.{given} (give both)", key=f"overlay.{missing}"
            )
        if not self.tls and not self.insecure and not is_loopback(self.host):
            raise ConfigError(
                f"{self.host} is beyond loopback: serving there needs TLS "
                "(tls_cert and tls_key, or --tls-cert/--tls-key) or --insecure",
                key="overlay.host",
            )
        seen: set[str] = set()
        for role, rows in (("agent", self.agents), ("supervisor", self.supervisors)):
            for i, p in enumerate(rows):
                if p.token in seen:
                    raise ConfigError(
                        f"the token of {p.name!r} is used twice (one token, one person)",
                        key=f"overlay.{role}[{i}].token",
                    )
                seen.add(p.token)

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert)

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> OverlayConfig:
        """Parse an `[overlay]` TOML table; a bad key raises ConfigError naming it."""
        return cls(
            **values(cls, table, where="overlay", extra=("agent", "supervisor")),
            agents=_principals(table, "agent"),
            supervisors=_principals(table, "supervisor"),
        )

    def with_tokens(self, agent: str = "demo-agent") -> OverlayConfig:
        """This config, with a generated token for `agent` and a supervisor if none are set.

        A generated agent token may dial: it is the one-user softphone of `assist demo`/`sip`.
        """
        agents = self.agents or (Principal("agent", agent, new_token(), dial=True),)
        sups = self.supervisors or (Principal("supervisor", "supervisor", new_token()),)
        return replace(self, agents=agents, supervisors=sups)


def _principals(table: Mapping[str, Any], role: Role) -> tuple[Principal, ...]:
    out = []
    for i, row in enumerate(rows_of(table, role, where="overlay")):
        where = f"overlay.{role}[{i}]"
        out.append(Principal(role, **values(Principal, row, where=where, only=ROW_KEYS[role])))
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
    ours = is_loopback(hostname) or hostname == host.lower()
    return scheme == ("https" if tls else "http") and number == port and ours
