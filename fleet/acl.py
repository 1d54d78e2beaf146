"""Redis ACL users per role, as rule lists (`ACL SETUSER name <rules…>` / a users.acl line).

- **plugin** (one user per agent): reads and writes only its own keys `prefix:{agent}:*` (its
  call streams, heartbeat, command stream and replies) and may only append to the floor stream.
  It cannot read the floor or any other agent's calls or commands.
- **console**: reads every key under the prefix and may write only agents' command streams.

Only the commands the plugin or the console use are allowed. Glob patterns are safe because
agent names are limited to letters, digits and `_ . @ -` (fleet/config.py).
"""

from __future__ import annotations

from fleet.keys import Keys

CONNECT = ["+ping", "+hello", "+auth", "+select", "+client|setname"]
CLUSTER = ["+cluster|slots", "+cluster|shards", "+command", "+asking"]  # a cluster client's map
PLUGIN_COMMANDS = [
    *CONNECT, *CLUSTER,
    "+xadd", "+xreadgroup", "+xack", "+xgroup|create", "+set", "+del", "+exists", "+expire",
    "+get", "+eval",  # the name's claim: renewed and released only while ours (fleet/claim.py)
]  # fmt: skip
CONSOLE_COMMANDS = [
    *CONNECT, *CLUSTER, "+xread", "+xadd", "+exists", "+xrange", "+xrevrange", "+xlen",
]  # fmt: skip


def plugin_rules(prefix: str, agent: str, password: str) -> list[str]:
    keys = Keys(prefix)
    return [
        "reset", "on", f">{password}", "resetchannels",
        f"~{keys.agent(agent)}:*", f"%W~{keys.floor}",
        "-@all", *PLUGIN_COMMANDS,
    ]  # fmt: skip


def console_rules(prefix: str, password: str) -> list[str]:
    return [
        "reset", "on", f">{password}", "resetchannels",
        f"%R~{prefix}:*", f"%W~{prefix}:{{*}}:cmd",
        "-@all", *CONSOLE_COMMANDS,
    ]  # fmt: skip


def plugin_user(agent: str) -> str:
    return f"plugin-{agent}"


def setuser(user: str, rules: list[str]) -> str:
    """One `ACL SETUSER` command line (for redis-cli or a test's admin connection)."""
    return " ".join(["ACL", "SETUSER", user, *rules])


def aclfile_line(user: str, rules: list[str]) -> str:
    """One line of a Redis `aclfile` (users.acl)."""
    return " ".join(["user", user, *[r for r in rules if r != "reset"]])
