"""A floor name held by one process at a time: its heartbeat key, claimed atomically.

On the floor a plugin or recording server is its name: one heartbeat key, one command stream,
one set of call keys. Two processes under one name overwrite each other's calls and share a
heartbeat, so the name is claimed, not just checked: `SET key value NX PX ttl` at start (of two
started in the same instant exactly one gets it), the value naming the holder (`owner`, a
random id per process, with its host and pid). The heartbeat renews the key only while it is
still ours and the clean exit deletes it only if it is ours; both are one Lua script, so no
other process can slip in between the check and the write. A holder that crashed lets go
when its TTL runs out.

A Redis ACL user made before `+eval +get` were in fleet/acl.py's plugin rules cannot run the
scripts: renewing and releasing then fall back to a plain SET / DEL (`checked` turns False and
the publisher says so once); the claim at start needs only SET.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

from redis.exceptions import NoPermissionError, ResponseError

from fleet.config import FleetConfig
from fleet.connect import DOWN, Client, open_redis_sync

RENEW = """
local cur = redis.call('GET', KEYS[1])
if cur and not string.find(cur, ARGV[1], 1, true) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""  # ours, or free again (expired while Redis was away, or Redis restarted empty): set it
RELEASE = """
local cur = redis.call('GET', KEYS[1])
if cur and string.find(cur, ARGV[1], 1, true) then return redis.call('DEL', KEYS[1]) end
return 0
"""


def new_owner() -> str:
    """A process's id as a name's holder: random, so a restarted process is another holder."""
    return uuid.uuid4().hex


def beat(agent: str, owner: str, calls: list[str] | None = None) -> str:
    """The heartbeat key's value: who holds the name, and the calls it has live."""
    return json.dumps(
        {
            "agent": agent,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "owner": owner,
            "calls": calls or [],
        }
    )


def holder(raw: Any) -> str:
    """Who holds a name, in words, from its heartbeat value."""
    try:
        value = json.loads(raw)
        return f"pid {int(value['pid'])} on {str(value['host'])[:64]}"
    except (TypeError, ValueError, KeyError):
        return "another process"


def claim_name(
    config: FleetConfig,
    key: str,
    *,
    name: str,
    owner: str,
    value: str,
    waiting: Callable[[float], None] = lambda wait_s: None,
) -> str:
    """Take the name whose heartbeat is `key` for `owner`: "" when it is ours now, or Redis
    cannot say (unreachable, refused: the publisher's heartbeat claims it once Redis answers);
    else who holds it. A holder's key still there after its TTL and one beat is a live
    holder's (a crashed one's has expired by then, so a restart waits that long: `waiting` is
    told once, with how long at most)."""
    client: Any = None
    ttl_ms = int(config.heartbeat_ttl_s * 1000)
    wait_s = config.heartbeat_ttl_s + config.heartbeat_s
    deadline = time.monotonic() + wait_s
    try:
        client = open_redis_sync(config, name=f"assist-plugin:{name}")
        while not client.set(key, value, nx=True, px=ttl_ms):
            if wait_s:
                waiting(wait_s)
                wait_s = 0.0
            if time.monotonic() >= deadline:
                try:
                    return holder(client.get(key))
                except ResponseError:  # an ACL without +get: still taken
                    return "another process"
            time.sleep(min(config.heartbeat_s, 0.5))
        return ""
    except (*DOWN, ResponseError):
        return ""
    finally:
        if client is not None:
            client.close()


def refused(exc: ResponseError) -> bool:
    """Whether Redis refused a script for the user's ACL (EVAL, or a command inside it)."""
    return isinstance(exc, NoPermissionError) or "NOPERM" in str(exc)


class NameClaim:
    """The publisher's hold on its name: renewed by each heartbeat, released at a clean exit."""

    def __init__(self, key: str, owner: str, ttl_s: float) -> None:
        self.key = key
        self.owner = owner
        self.ttl_ms = int(ttl_s * 1000)
        self.checked = True  # False: the ACL refused the scripts; plain SET / DEL

    async def renew(self, client: Client, value: str) -> bool:
        """Set the heartbeat if the name is ours (or free); False: another process holds it."""
        if self.checked:
            try:
                got: Any = await client.eval(RENEW, 1, self.key, self.owner, value, self.ttl_ms)
                return bool(got)
            except ResponseError as exc:
                if not refused(exc):
                    raise
                self.checked = False
        await client.set(self.key, value, px=self.ttl_ms)
        return True

    async def release(self, client: Client) -> None:
        """Delete the heartbeat if the name is still ours (the console sees us gone at once)."""
        if self.checked:
            try:
                await client.eval(RELEASE, 1, self.key, self.owner)
                return
            except ResponseError as exc:
                if not refused(exc):
                    raise
        await client.delete(self.key)
