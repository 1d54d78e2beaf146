"""One way to open the floor's Redis from a FleetConfig: ACL user, TLS, bounded timeouts, one
Redis or a Redis Cluster (`cluster = true`: the url names any one node; keys are routed by slot).

redis-py's own retries are off: the publisher and the console decide themselves what a
lost connection means (backlog, `fleet_degraded`, resume from stream ids).
"""

from __future__ import annotations

import socket
import ssl
from typing import Any
from urllib.parse import urlsplit

import redis
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.exceptions import (
    AuthenticationError,
    ClusterDownError,
    RedisClusterException,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from assist.core.errors import ConfigError
from fleet.config import FleetConfig

SOCKET_TIMEOUT_S = 5.0  # above every BLOCK we use (1 s)
CONNECT_TIMEOUT_S = 3.0

DOWN = (RedisConnectionError, RedisTimeoutError, OSError, RedisClusterException, ClusterDownError)
"""What "Redis is unreachable" looks like to a caller; anything else is a real error. (A
cluster with no reachable node or a slot without a primary is unreachable too.)"""

Client = Redis | RedisCluster


def open_redis(config: FleetConfig, *, name: str) -> Client:
    if config.cluster:
        return RedisCluster.from_url(config.url, **_options(config, name, asyncio=True))
    return Redis.from_url(config.url, **_options(config, name, asyncio=True))


def _options(config: FleetConfig, name: str, *, asyncio: bool) -> dict[str, Any]:
    """The client options; `asyncio` picks the retry policy's own API (redis-py 8 replaces a
    synchronous Retry given to an asyncio client, with a warning on the user's terminal)."""
    kwargs: dict[str, Any] = {
        "decode_responses": True,
        "protocol": 2,
        "socket_timeout": SOCKET_TIMEOUT_S,
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "retry": (AsyncRetry if asyncio else Retry)(NoBackoff(), 0),
        "client_name": name,
    }
    if config.username:
        kwargs["username"] = config.username
    if config.password:
        kwargs["password"] = config.password
    if config.tls_ca:
        kwargs["ssl_ca_certs"] = config.tls_ca
    return kwargs


def first_contact(config: FleetConfig, *, name: str) -> str:
    """One PING at start. "" when Redis answered; the reason when it is unreachable (the caller
    goes on: a plugin coaches and keeps a backlog, a console retries). What no retry can fix
    is a ConfigError, one line: TLS on one side only, an untrusted certificate, a refused
    user or password."""
    parts = urlsplit(config.url)
    host, port = parts.hostname or "", parts.port or 6379
    where = f"{host}:{port}"
    kind = redis.RedisCluster if config.cluster else redis.Redis
    try:
        client = kind.from_url(config.url, **_options(config, name, asyncio=False))
    except DOWN as exc:  # a cluster client connects while it is made
        client = None
        failure: BaseException | None = exc
    else:
        failure = None
    try:
        if failure is not None:
            raise failure
        assert client is not None
        client.ping()
        return ""
    except AuthenticationError as exc:
        raise ConfigError(
            f"Redis at {where} refused the login ({describe(exc)}); check fleet.username and "
            "the password",
            key="fleet.password",
        ) from None
    except ResponseError as exc:
        raise ConfigError(
            f"Redis at {where} refused PING ({describe(exc)})", key="fleet.url"
        ) from None
    except DOWN as exc:
        reason = describe(exc)
        if parts.scheme == "redis" and _speaks_tls(host, port):
            raise ConfigError(
                f"{where} accepts TLS only: use rediss://{where}/… "
                "(and fleet.tls_ca for a private CA)",
                key="fleet.url",
            ) from None
        if parts.scheme == "rediss":
            if "CERTIFICATE_VERIFY_FAILED" in reason or "certificate verify failed" in reason:
                raise ConfigError(
                    f"the certificate of {where} is not trusted "
                    f"({reason}); set tls_ca to the CA that signed it",
                    key="fleet.tls_ca",
                ) from None
            if _speaks_plain(host, port):
                raise ConfigError(
                    f"{where} does not speak TLS: use redis://{where}/…", key="fleet.url"
                ) from None
        return reason
    finally:
        if client is not None:
            client.close()


def open_redis_sync(config: FleetConfig, *, name: str) -> Any:
    """A blocking client (one or a cluster), for a step at start before the publisher runs."""
    kind = redis.RedisCluster if config.cluster else redis.Redis
    return kind.from_url(config.url, **_options(config, name, asyncio=False))


def _speaks_tls(host: str, port: int) -> bool:
    """Whether a TLS handshake works there (the certificate is not judged: only the protocol)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S) as raw,
            ctx.wrap_socket(raw, server_hostname=host),
        ):
            return True
    except (OSError, ssl.SSLError):
        return False


def _speaks_plain(host: str, port: int) -> bool:
    """Whether a plain RESP PING gets a Redis answer (+PONG, or -NOAUTH / -ERR)."""
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64)[:1] in (b"+", b"-")
    except OSError:
        return False


def describe(exc: BaseException) -> str:
    """A short reason for a log line or a `fleet_degraded` event."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
