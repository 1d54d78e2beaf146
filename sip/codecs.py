"""Which audio codecs the softphone offers, in which order (`[sip] codecs`).

pjsua's own order puts speex first. A PBX line wants wideband first when the far end has it
(G.722; opus when the pjsua2 wheel was built with it, which pjsua2-python 2.15.1 is not), then
G.711 (PCMU, PCMA), which every phone speaks. Listed codecs get falling priorities; every other
codec is disabled, so the offer is exactly the list. The order decides what we offer on outgoing
calls; on incoming calls pjsip answers in the caller's order among the codecs we enable.
"""

from __future__ import annotations

import pjsua2 as pj

DEFAULT_CODECS = ("opus", "G722", "PCMU", "PCMA")  # opus only where the wheel has it
TOP_PRIORITY = 255


def apply_codecs(ep: pj.Endpoint, names: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Enable `names` (codec names like "G722", or ids like "speex/16000") in that order and
    disable the rest; () means DEFAULT_CODECS. Returns (enabled codec ids, names not found);
    names missing from the default list are not reported."""
    wanted = names or DEFAULT_CODECS
    ids = [ci.codecId for ci in ep.codecEnum2()]
    order: list[str] = []
    missing: list[str] = []
    for name in wanted:
        key = name.lower()
        found = [
            i for i in ids if i.lower().split("/")[0] == key or i.lower().startswith(key + "/")
        ]
        if not found and names:
            missing.append(name)
        order += [i for i in found if i not in order]
    if not order:  # nothing usable: keep pjsua's own choice rather than a phone with no audio
        return ids, missing
    for cid in ids:
        prio = TOP_PRIORITY - order.index(cid) if cid in order else 0
        ep.codecSetPriority(cid, prio)
    return order, missing
