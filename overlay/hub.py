"""Pub/sub of call events to overlay clients, with per-client bounded queues (no sockets).

The hub keeps each call's recent events so a client that (re)connects can resume from the last
`seq` it saw and never sees a card twice. What a page needs to rebuild a call (its start, end,
prompts and their clearing) is kept apart from the chatter (meters, transcripts, feedback...),
so no amount of chatter evicts it. Each subscriber has a bounded queue in which state updates
coalesce (a new meters, checklist or partial transcript replaces the pending one), so a slow
client only falls behind on events that matter; if the queue still fills, the subscriber is marked
`overflowed` and the server drops the connection (the client reconnects and resumes). The
backlog a subscriber asks for is handed out lazily, in batches the server paces. A stalled
browser therefore costs bounded memory and never slows the audio path or other clients.

Not thread-safe by design: the server calls it from its event loop only.
"""

from __future__ import annotations

import heapq
import itertools
from bisect import bisect_right
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from assist.core.events import Event, Recording

CLIENT_QUEUE = 256
HISTORY_PER_CALL = 20_000  # chatter kept per call (meters, transcripts, feedback, ...)
PINNED_PER_CALL = 5_000  # prompts, their clearing, call_ended: evicted only by each other
CALLS_KEPT = 50
WIRE_CACHE = 4096  # encoded events kept: each is encoded once, not once per client
COALESCIBLE = frozenset({"meters", "checklist"})  # each one is the whole state
# call_started: kept apart
PINNED = frozenset({"prompt", "prompt_cleared", "call_ended", "supervisor_message", "checklist"})
SUPERVISOR_ONLY = frozenset({"supervisor_action"})  # an agent must not learn of silent listening


@dataclass(eq=False)
class Subscription:
    call_id: str | None  # None = every call
    wake: Callable[[], None]
    maxlen: int = CLIENT_QUEUE
    queue: deque[Event] = field(default_factory=deque)
    overflowed: bool = False
    coalesced: int = 0
    visible: Callable[[str], bool] = lambda call_id: True  # the token's view (agent: own calls)
    hidden: frozenset[str] = frozenset()  # event types this token never gets
    id: int = field(default_factory=itertools.count().__next__)

    def wants(self, event: Event) -> bool:
        return (
            (self.call_id is None or self.call_id == event.call_id)
            and event.type not in self.hidden
            and self.visible(event.call_id)
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


def _seq(event: Event) -> int:
    return event.seq


class CallHistory:
    """One call's kept events: its start, the pinned events and the chatter, each bounded."""

    def __init__(self, chatter: int, pinned: int) -> None:
        self.started: Event | None = None
        self.pinned: deque[Event] = deque()
        self.chatter: deque[Event] = deque(maxlen=chatter)
        self.prompts: set[str] = set()  # prompt ids among `pinned`: the O(1) feedback check
        self._pinned_max = pinned

    def append(self, event: Event) -> None:
        if event.type == "call_started" and self.started is None:
            self.started = event
        elif event.type in PINNED:
            if len(self.pinned) >= self._pinned_max:
                old = self.pinned.popleft()
                if old.type == "prompt":
                    self.prompts.discard(str(getattr(old.data, "prompt_id", "")))
            self.pinned.append(event)
            if event.type == "prompt":
                self.prompts.add(str(getattr(event.data, "prompt_id", "")))
        else:
            self.chatter.append(event)

    def after(self, seq: int) -> Iterator[Event]:
        """The kept events newer than `seq`, in seq order (a snapshot: later publishes are the
        live stream's business)."""
        parts: list[Iterable[Event]] = []
        if self.started is not None and self.started.seq > seq:
            parts.append((self.started,))
        for kept in (self.pinned, self.chatter):
            snap = list(kept)  # C-speed copy; then a binary search, not a scan
            parts.append(snap[bisect_right(snap, seq, key=_seq) :])
        return heapq.merge(*parts, key=_seq)

    def __iter__(self) -> Iterator[Event]:
        return self.after(-(2**63))

    def __len__(self) -> int:
        return len(self.pinned) + len(self.chatter) + (self.started is not None)


class Hub:
    def __init__(
        self,
        *,
        history_per_call: int = HISTORY_PER_CALL,
        pinned_per_call: int = PINNED_PER_CALL,
        calls_kept: int = CALLS_KEPT,
    ) -> None:
        self.history: OrderedDict[str, CallHistory] = OrderedDict()
        self.live: set[str] = set()
        self.agents: dict[str, str] = {}  # call id -> agent name: call_started, then transfers
        self.subs: set[Subscription] = set()
        self._history_per_call = history_per_call
        self._pinned_per_call = pinned_per_call
        self._calls_kept = calls_kept
        self.listeners: list[Callable[[Event], None]] = []
        self.forgetters: list[Callable[[str], None]] = []  # told when a call leaves history
        self._wire: OrderedDict[int, tuple[Event, str]] = OrderedDict()

    def wire(self, event: Event) -> str:
        """`event` as JSON, encoded once for every client that sends it (a bounded cache; it
        holds the event, so an id is never reused while cached)."""
        hit = self._wire.get(id(event))
        if hit is not None and hit[0] is event:
            return hit[1]
        text = event.to_json()
        self._wire[id(event)] = (event, text)
        if len(self._wire) > WIRE_CACHE:
            self._wire.popitem(last=False)
        return text

    def _unwire(self, call_id: str) -> None:
        """A call left the history: its encoded events go too, so the cache never holds more
        than the kept calls (a soak of many calls stays flat)."""
        for key in [k for k, (ev, _) in self._wire.items() if ev.call_id == call_id]:
            del self._wire[key]

    def publish(self, event: Event) -> None:
        hist = self.history.get(event.call_id)
        if hist is None:
            hist = self.history[event.call_id] = CallHistory(
                self._history_per_call, self._pinned_per_call
            )
            while len(self.history) > self._calls_kept:
                old, _ = self.history.popitem(last=False)
                self.live.discard(old)
                self.agents.pop(old, None)
                self._unwire(old)
                for forget in self.forgetters:
                    forget(old)
        hist.append(event)
        if event.type == "call_started":
            self.live.add(event.call_id)
            self.agents[event.call_id] = str(getattr(event.data, "agent", ""))
        elif isinstance(event.data, Recording) and event.data.agent:
            self._rebind(event.call_id, event.data.agent, hist)
        elif event.type == "call_ended":
            self.live.discard(event.call_id)
        for listener in self.listeners:
            listener(event)
        for sub in list(self.subs):
            if sub.wants(event):
                sub.offer(event)

    def _rebind(self, call_id: str, agent: str, hist: CallHistory) -> None:
        """A recorded call moved to another agent (a SIPREC transfer): from now on the new
        agent's tokens see it and the old one's do not. A page that could not see it before
        gets its `call_started` first, so it can show the call from here on."""
        if self.agents.get(call_id) == agent or call_id not in self.agents:
            return
        before = {sub for sub in self.subs if sub.visible(call_id)}
        self.agents[call_id] = agent
        if hist.started is None:
            return
        for sub in list(self.subs):
            if sub not in before and sub.wants(hist.started):
                sub.offer(hist.started)

    def subscribe(
        self,
        call_id: str | None,
        wake: Callable[[], None],
        *,
        since: dict[str, int] | None = None,
        maxlen: int = CLIENT_QUEUE,
        visible: Callable[[str], bool] | None = None,
        hidden: frozenset[str] = frozenset(),
        latest: bool = False,
    ) -> tuple[Subscription, Iterator[Event]]:
        """Subscribe and return the backlog: every kept event after `since[call_id]`, lazily.

        `visible(call_id)` limits both to the calls a token may see (an agent: their own);
        `hidden` event types are left out of both.
        `latest`: of the calls not in `since`, only the newest (a fresh page needs no old calls).
        """
        sub = Subscription(call_id, wake, maxlen, hidden=hidden)
        if visible is not None:
            sub.visible = visible
        since = since or {}
        calls = [
            cid for cid in self.history if (call_id is None or cid == call_id) and sub.visible(cid)
        ]
        if latest:  # resume the calls in `since`; of the others, only the newest
            calls = [c for c in calls if c in since or c == calls[-1]]
        kept = [self.history[cid].after(since.get(cid, -1)) for cid in calls]
        backlog = (ev for ev in itertools.chain.from_iterable(kept) if ev.type not in hidden)
        self.subs.add(sub)
        return sub, backlog

    def unsubscribe(self, sub: Subscription) -> None:
        self.subs.discard(sub)

    def calls(self) -> list[str]:
        return list(self.history)

    def agent_of(self, call_id: str) -> str | None:
        return self.agents.get(call_id)

    def has_prompt(self, call_id: str, prompt_id: str) -> bool:
        """Whether `call_id` raised `prompt_id` (feedback must name a real prompt). O(1)."""
        hist = self.history.get(call_id)
        return hist is not None and prompt_id in hist.prompts
