"""Plugging a command's calls into the floor: the `[fleet]` table of --config, if any.

`assist demo` and `assist sip` call `start_fleet()` once and add `fleet.sink()` to each call's
sinks; `stop_fleet()` flushes what is queued when the command ends. No `[fleet]` table: None,
and nothing changes.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from assist.core.errors import ConfigError
from assist.runtime.config import read_config
from assist.runtime.control import CallControl, CallRegistry

if TYPE_CHECKING:
    from assist.commands.failures import Failures
    from fleet.publisher import FleetPublisher

FLUSH_S = 5.0  # at exit, how long to keep trying to write what is queued


def start_fleet(
    path: str | None,
    *,
    agent: str,
    registry: CallRegistry,
    control: CallControl | None,
    failures: Failures | None = None,
    server: bool = False,
) -> FleetPublisher | None:
    """The publisher for `[fleet]`, started; if it stops, `failures` hears of it (coaching goes
    on without the floor: the command decides what else to do). `server`: the process serves
    many agents (`assist srs`): its floor name is `[fleet] agent`, else `agent`, never an
    overlay agent's (each recording server needs its own, or they share one heartbeat).

    The name is claimed before anything is published (fleet/claim.py, atomic in Redis): a
    name another live process holds is a ConfigError (one line, exit 2), for every command,
    also when two start in the same instant."""
    if path is None:
        return None
    from fleet.config import fleet_table

    doc = read_config(path)
    config = fleet_table(doc, path)
    if config is None:
        return None
    agent = (config.agent if server else _agent_name(doc, path, config.agent)) or agent
    from fleet.claim import beat, claim_name, new_owner
    from fleet.connect import first_contact
    from fleet.keys import Keys
    from fleet.publisher import FleetPublisher

    try:  # a mistake (TLS mismatch, bad password) stops here; Redis away does not
        first_contact(config, name=f"assist-plugin:{agent}")
    except ConfigError as exc:
        raise exc.in_file(path) from None

    def say(line: str) -> None:
        print(f"assist: {line}", file=sys.stderr, flush=True)

    def waiting(wait_s: float) -> None:
        say(f"fleet: {agent!r} has a live heartbeat on the floor; waiting up to {wait_s:g} s for "
            "it to expire (a run that crashed) before giving up")  # fmt: skip

    owner = new_owner()
    key = Keys(config.prefix).heartbeat(agent)
    value = beat(agent, owner)
    held_by = claim_name(config, key, name=agent, owner=owner, value=value, waiting=waiting)
    if held_by:
        each = "recording server" if server else "agent's plugin"
        raise ConfigError(
            f"{agent!r} is already publishing on this floor (its heartbeat is live: {held_by}); "
            f"give each {each} its own name",
            key="fleet.agent",
            path=path,
        )

    publisher = FleetPublisher(
        config, agent=agent, registry=registry, control=control, notify=say, owner=owner
    )
    if failures is not None:
        publisher.failed = lambda line: failures.part(
            "fleet", line, then="coaching goes on; this plugin's calls are off the floor"
        )
    publisher.start()
    say(f"fleet: publishing as agent {publisher.agent!r} to {_where(config.url)}")
    return publisher


def stop_fleet(publisher: FleetPublisher | None) -> None:
    if publisher is None:
        return
    left = publisher.close(FLUSH_S)
    if left:
        print(
            f"assist: warning: fleet: {left} events could not be sent to Redis",
            file=sys.stderr,
        )


def _where(url: str) -> str:
    """The URL without credentials, for a log line."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"


def _agent_name(doc: dict[str, Any], path: str, fleet_agent: str) -> str:
    """The agent's one name: `[fleet] agent`, else the first `[[overlay.agent]]`; both set,
    they must agree (the overlay's token shows the calls published under that name)."""
    overlay = doc.get("overlay")
    rows = overlay.get("agent") if isinstance(overlay, dict) else None
    first = rows[0] if isinstance(rows, list) and rows and isinstance(rows[0], dict) else {}
    name = first.get("name", "")
    overlay_agent = name if isinstance(name, str) else ""
    if fleet_agent and overlay_agent and fleet_agent != overlay_agent:
        raise ConfigError(
            f"{fleet_agent!r} differs from the overlay agent {overlay_agent!r}; give one name",
            key="fleet.agent",
            path=path,
        )
    return fleet_agent or overlay_agent
