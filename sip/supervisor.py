"""Who hears whom on the conference bridge, for a call and its optional supervisor.

Routes are data: (source, destination) pairs between named ends, so listen/whisper/barge are a
table that can be read and tested without pjsua2, and switching modes is a set difference
(stop what is no longer wanted, start what is new) with no gap in the call's own audio.

    customer     the remote party's stream (what the customer says; sending to it = they hear)
    agent        the agent's microphone (capture device, or a WAV player in headless runs)
    ear          the agent's earpiece (playback device, plus an optional recorder)
    supervisor   the supervisor's call
    agent_tap / customer_tap   the analysis taps (WAV writers the tap reader tails)
"""

from __future__ import annotations

from assist.runtime.control import SuperviseMode

Route = tuple[str, str]

CALL_ROUTES: frozenset[Route] = frozenset(
    {
        ("customer", "customer_tap"),
        ("agent", "agent_tap"),
        ("agent", "customer"),  # the customer hears the agent
        ("customer", "ear"),  # the agent hears the customer
    }
)
_LISTEN = {("customer", "supervisor"), ("agent", "supervisor")}
SUPERVISOR_ROUTES: dict[SuperviseMode, frozenset[Route]] = {
    "off": frozenset(),
    "listen": frozenset(_LISTEN),  # hears both, nobody hears them
    "whisper": frozenset(_LISTEN | {("supervisor", "ear")}),  # only the agent hears them
    "barge": frozenset(_LISTEN | {("supervisor", "ear"), ("supervisor", "customer")}),
}


def routes(mode: SuperviseMode | None) -> frozenset[Route]:
    """Every route a call needs with a supervisor in `mode` (None: no supervisor connected)."""
    return CALL_ROUTES | SUPERVISOR_ROUTES[mode or "off"]


def changes(old: frozenset[Route], new: frozenset[Route]) -> tuple[list[Route], list[Route]]:
    """(routes to stop, routes to start) to go from `old` to `new`, in a stable order."""
    return sorted(old - new), sorted(new - old)
