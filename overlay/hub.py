"""Pub/sub of call events to overlay clients, with per-client bounded queues (no sockets).

The hub keeps each call's recent events so a client that (re)connects can resume from the last
`seq` it saw and never sees a card twice. Each subscriber has a bounded queue in which state
updates coalesce (a new meters or partial transcript replaces the pending one), so a slow client
only falls behind on events that matter; if the queue still fills, the subscriber is marked
`overflowed` and the server drops the connection (the client reconnects and resumes). A
stalled browser therefore costs bounded memory and never slows the audio path or other clients.

Not thread-safe by design: the server calls it from its event loop only.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from assist.core.events import Event

CLIENT_QUEUE = 256
HISTORY_PER_CALL = 20_000
CALLS_KEPT = 50
COALESCIBLE = frozenset({"meters"})


@dataclass(eq=False)
class Subscription:
    call_id: str | None  # None = every call
    wake: Callable[[], None]
    maxlen: int = CLIENT_QUEUE
    queue: deque[Event] = field(default_factory=deque)
    overflowed: bool = False
    coalesced: int = 0
    visible: Callable[[str], bool] = lambda call_id: True  # the token's view (agent: own calls)
    id: int = field(default_factory=itertools.count().__next__)

    def wants(self, event: Event) -> bool:
        return (self.call_id is None or self.call_id == event.call_id) and self.visible(
            event.call_id
        )

    def offer(self, event: Event) -> None:
        if self.overflowed:
            return
        self._supersede(event)
        if len(self.queue) >= self.maxlen:
            self.overflowed = True
            self.queue.clear()
        else:
            self.queue.append(event)
        self.wake()

    def _supersede(self, event: Event) -> None:
        """Drop a pending state update that `event` replaces (older meters, older partials)."""
        key = _state_key(event)
        if event.type == "transcript":  # a final replaces the speaker's pending partial too
            key = (event.call_id, "partial", str(getattr(event.data, "speaker", "")))
        if key is None:
            return
        for i, pending in enumerate(self.queue):
            if _state_key(pending) == key:
                del self.queue[i]
                self.coalesced += 1
                return

    def drain(self) -> list[Event]:
        out = list(self.queue)
        self.queue.clear()
        return out


def _state_key(event: Event) -> tuple[str, str, str] | None:
    if event.type in COALESCIBLE:
        return (event.call_id, event.type, "")
    if event.type == "transcript" and getattr(event.data, "kind", "") == "partial":
        return (event.call_id, "partial", str(getattr(event.data, "speaker", "")))
    return None


class Hub:
    def __init__(
        self, *, history_per_call: int = HISTORY_PER_CALL, calls_kept: int = CALLS_KEPT
    ) -> None:
        self.history: OrderedDict[str, deque[Event]] = OrderedDict()
        self.live: set[str] = set()
        self.agents: dict[str, str] = {}  # call id -> agent name, from call_started
        self.subs: set[Subscription] = set()
        self._history_per_call = history_per_call
        self._calls_kept = calls_kept
        self.listeners: list[Callable[[Event], None]] = []
        self.forgetters: list[Callable[[str], None]] = []  # told when a call leaves history

    def publish(self, event: Event) -> None:
        hist = self.history.get(event.call_id)
        if hist is None:
            hist = self.history[event.call_id] = deque(maxlen=self._history_per_call)
            while len(self.history) > self._calls_kept:
                old, _ = self.history.popitem(last=False)
                self.live.discard(old)
                self.agents.pop(old, None)
                for forget in self.forgetters:
                    forget(old)
        hist.append(event)
        if event.type == "call_started":
            self.live.add(event.call_id)
            self.agents[event.call_id] = str(getattr(event.data, "agent", ""))
        elif event.type == "call_ended":
            self.live.discard(event.call_id)
        for listener in self.listeners:
            listener(event)
        for sub in list(self.subs):
            if sub.wants(event):
                sub.offer(event)

    def subscribe(
        self,
        call_id: str | None,
        wake: Callable[[], None],
        *,
        since: dict[str, int] | None = None,
        maxlen: int = CLIENT_QUEUE,
        visible: Callable[[str], bool] | None = None,
        latest: bool = False,
    ) -> tuple[Subscription, list[Event]]:
        """Subscribe and return the backlog: every kept event after `since[call_id]`.

        `visible(call_id)` limits both to the calls a token may see (an agent: their own).
        `latest`: of the calls not in `since`, only the newest (a fresh page needs no old calls).
        """
        sub = Subscription(call_id, wake, maxlen)
        if visible is not None:
            sub.visible = visible
        since = since or {}
        backlog: list[Event] = []
        calls = [
            cid for cid in self.history if (call_id is None or cid == call_id) and sub.visible(cid)
        ]
        if latest:  # resume the calls in `since`; of the others, only the newest
            calls = [c for c in calls if c in since or c == calls[-1]]
        for cid in calls:
            hist = self.history[cid]
            after = since.get(cid, -1)
            backlog.extend(ev for ev in hist if ev.seq > after)
        self.subs.add(sub)
        return sub, backlog

    def unsubscribe(self, sub: Subscription) -> None:
        self.subs.discard(sub)

    def calls(self) -> list[str]:
        return list(self.history)

    def agent_of(self, call_id: str) -> str | None:
        return self.agents.get(call_id)

    def has_prompt(self, call_id: str, prompt_id: str) -> bool:
        """Whether `call_id` raised `prompt_id` (feedback must name a real prompt)."""
        return any(
            ev.type == "prompt" and getattr(ev.data, "prompt_id", None) == prompt_id
            for ev in self.history.get(call_id, ())
        )
