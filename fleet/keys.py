"""Every Redis key of the floor, in one place (the ACL patterns in fleet/acl.py match them).

An agent's keys share the hash tag `{agent}`: in Redis Cluster they live on one slot, so a
plugin's writes go to one node, agents spread evenly over the slots, and an ACL can grant a
plugin exactly `prefix:{agent}:*`. The floor stream is the one shared key.
"""

from __future__ import annotations

from dataclasses import dataclass

PLUGIN_GROUP = "plugin"  # the consumer group on each agent's command stream


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str

    def agent(self, agent: str) -> str:
        return f"{self.prefix}:{{{agent}}}"

    def call(self, agent: str, call_id: str) -> str:
        """The call's own stream: every event of the call, v1 envelope unchanged."""
        return f"{self.agent(agent)}:call:{call_id}"

    def commands(self, agent: str) -> str:
        """Supervisor commands to this agent's plugin (consumer group PLUGIN_GROUP)."""
        return f"{self.agent(agent)}:cmd"

    def replies(self, agent: str) -> str:
        """The plugin's answers to commands, keyed by the command's stream id."""
        return f"{self.agent(agent)}:reply"

    def heartbeat(self, agent: str) -> str:
        """A string with a TTL, renewed while the plugin runs: gone = plugin lost."""
        return f"{self.agent(agent)}:hb"

    @property
    def floor(self) -> str:
        """Call summaries of the whole floor: started, flagged, prompt, ended."""
        return f"{self.prefix}:floor"
