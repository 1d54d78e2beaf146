"""One way to open the floor's Redis from a FleetConfig: ACL user, TLS, bounded timeouts.

redis-py's own retries are off: the publisher and the console decide themselves what a
lost connection means (backlog, `fleet_degraded`, resume from stream ids).
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from fleet.config import FleetConfig

SOCKET_TIMEOUT_S = 5.0  # above every BLOCK we use (1 s)
CONNECT_TIMEOUT_S = 3.0

DOWN = (RedisConnectionError, RedisTimeoutError, OSError)
"""What "Redis is unreachable" looks like to a caller; anything else is a real error."""


def open_redis(config: FleetConfig, *, name: str) -> Redis:
    kwargs: dict[str, Any] = {
        "decode_responses": True,
        "protocol": 2,
        "socket_timeout": SOCKET_TIMEOUT_S,
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "retry": Retry(NoBackoff(), 0),
        "client_name": name,
    }
    if config.username:
        kwargs["username"] = config.username
    if config.password:
        kwargs["password"] = config.password
    if config.tls_ca:
        kwargs["ssl_ca_certs"] = config.tls_ca
    return Redis.from_url(config.url, **kwargs)


def describe(exc: BaseException) -> str:
    """A short reason for a log line or a `fleet_degraded` event."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
