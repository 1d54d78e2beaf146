"""Hub: per-client bounded queues with coalescing, and resume from a seq."""

from __future__ import annotations

from assist.core.events import Event, Meters, Prompt, SpeakerMeters, Transcript
from overlay.hub import Hub


def meters(seq: int, call: str = "c") -> Event:
    sm = SpeakerMeters(speaking=False, talk_share=0.5, level_dbfs=-20, noise_dbfs=-60)
    return Event(call, seq, seq / 10, Meters(agent=sm, customer=sm, silence_s=0))


def prompt(seq: int, call: str = "c") -> Event:
    return Event(
        call, seq, seq / 10, Prompt(prompt_id=f"p-{seq}", rule="r", text="t", severity="warn")
    )


def test_slow_client_queue_coalesces_state_but_keeps_prompts() -> None:
    hub = Hub()
    wakes = []
    sub, _ = hub.subscribe(None, lambda: wakes.append(1), maxlen=10)
    for seq in range(40):
        hub.publish(prompt(seq) if seq % 10 == 0 else meters(seq))
    kinds = [e.type for e in sub.queue]
    assert kinds == ["prompt"] * 4 + ["meters"]  # only the latest meters wait
    assert not sub.overflowed and len(sub.queue) <= 10 and sub.coalesced > 0
    assert len(wakes) == 40


def test_partials_coalesce_per_speaker() -> None:
    hub = Hub()
    sub, _ = hub.subscribe("c", lambda: None, maxlen=3)
    for seq, spk in enumerate(["agent", "customer", "agent", "customer", "agent"]):
        hub.publish(Event("c", seq, 0, Transcript(speaker=spk, kind="partial", text=str(seq))))
    assert [e.seq for e in sub.queue] == [3, 4]
    hub.publish(Event("c", 5, 0, Transcript(speaker="agent", kind="final", text="done")))
    assert [e.seq for e in sub.queue] == [3, 5]


def test_client_that_cannot_keep_up_with_prompts_overflows_and_holds_nothing() -> None:
    hub = Hub()
    sub, _ = hub.subscribe(None, lambda: None, maxlen=5)
    for seq in range(6):
        hub.publish(prompt(seq))
    assert sub.overflowed and len(sub.queue) == 0
    hub.publish(prompt(7))
    assert len(sub.queue) == 0


def test_subscribe_filters_by_call_and_returns_backlog_after_since() -> None:
    hub = Hub()
    for seq in range(5):
        hub.publish(prompt(seq, "a"))
        hub.publish(prompt(seq, "b"))
    sub, backlog = hub.subscribe("a", lambda: None, since={"a": 2})
    assert [(e.call_id, e.seq) for e in backlog] == [("a", 3), ("a", 4)]
    hub.publish(prompt(5, "b"))
    hub.publish(prompt(5, "a"))
    assert [(e.call_id, e.seq) for e in sub.queue] == [("a", 5)]


def test_history_is_bounded() -> None:
    hub = Hub(history_per_call=3, pinned_per_call=2, calls_kept=2)
    for call in "xyz":
        for seq in range(5):
            hub.publish(meters(seq, call))
    assert hub.calls() == ["y", "z"]
    assert [e.seq for e in hub.history["z"]] == [2, 3, 4]
    for seq in range(5, 9):
        hub.publish(prompt(seq, "z"))
    assert [e.seq for e in hub.history["z"]] == [2, 3, 4, 7, 8]  # prompts evict only prompts
    assert not hub.has_prompt("z", "p-6") and hub.has_prompt("z", "p-8")


def test_chatter_never_evicts_the_calls_start_or_its_prompts() -> None:
    from assist.core.events import CallStarted

    hub = Hub(history_per_call=100)
    hub.publish(Event("c", 0, 0, CallStarted(lang="en", source="demo", sample_rate=1, agent="a")))
    hub.publish(prompt(1))
    for seq in range(2, 5_000):
        hub.publish(meters(seq))
    _, backlog = hub.subscribe(None, lambda: None)
    got = list(backlog)
    assert [e.type for e in got[:2]] == ["call_started", "prompt"] and len(got) == 102
    assert [e.seq for e in got] == sorted(e.seq for e in got)
    assert hub.has_prompt("c", "p-1")
    _, resumed = hub.subscribe(None, lambda: None, since={"c": 4_990})
    assert [e.seq for e in resumed] == list(range(4_991, 5_000))


def test_visible_filter_limits_backlog_and_live_events_to_the_tokens_calls() -> None:
    from assist.core.events import CallStarted

    hub = Hub()
    for call, agent in (("a", "alice"), ("b", "bob")):
        hub.publish(
            Event(call, 0, 0, CallStarted(lang="en", source="demo", sample_rate=1, agent=agent))
        )
    mine = lambda call_id: hub.agent_of(call_id) == "alice"  # noqa: E731
    sub, backlog = hub.subscribe(None, lambda: None, visible=mine)
    assert [e.call_id for e in backlog] == ["a"]
    hub.publish(prompt(1, "b"))
    hub.publish(prompt(1, "a"))
    assert [(e.call_id, e.seq) for e in sub.queue] == [("a", 1)]
    assert hub.has_prompt("a", "p-1") and not hub.has_prompt("a", "p-2")


def test_latest_replays_only_the_newest_call_besides_those_resumed() -> None:
    hub = Hub()
    for call in "xyz":
        for seq in range(3):
            hub.publish(prompt(seq, call))
    _, backlog = hub.subscribe(None, lambda: None, latest=True)
    assert {e.call_id for e in backlog} == {"z"}
    _, backlog = hub.subscribe(None, lambda: None, since={"x": 1}, latest=True)
    assert [(e.call_id, e.seq) for e in backlog] == [("x", 2), ("z", 0), ("z", 1), ("z", 2)]


def test_a_transfer_moves_the_call_to_the_new_agents_tokens() -> None:
    """A SIPREC transfer (a `recording` event naming another agent): the new agent's page gets
    the call's start and everything after; the old agent's gets nothing more."""
    from assist.core.events import CallStarted, Recording

    hub = Hub()
    start = CallStarted(lang="en", source="srs", sample_rate=1, agent="alice")
    hub.publish(Event("c", 0, 0, start))
    hub.publish(Event("c", 1, 0, Recording(agent="alice")))  # the start's own: no change
    subs = {}
    for name in ("alice", "bob"):
        subs[name], _ = hub.subscribe(
            None, lambda: None, visible=lambda cid, n=name: hub.agent_of(cid) == n
        )
    hub.publish(prompt(2, "c"))
    hub.publish(Event("c", 3, 1, Recording(agent="bob", update=True)))
    hub.publish(prompt(4, "c"))
    assert [e.seq for e in subs["alice"].queue] == [2]
    assert [e.seq for e in subs["bob"].queue] == [0, 3, 4]  # the start first, then from here
    assert hub.agent_of("c") == "bob"


def test_a_checklist_is_state_it_coalesces_and_chatter_never_evicts_it() -> None:
    from assist.core.events import Checklist, ChecklistItem

    def checklist(seq: int, state: str) -> Event:
        items = (ChecklistItem(name="greeting", state=state),)  # type: ignore[arg-type]
        return Event("c", seq, seq / 10, Checklist(items=items))

    hub = Hub(history_per_call=10)
    sub, _ = hub.subscribe(None, lambda: None)
    hub.publish(checklist(0, "pending"))
    hub.publish(checklist(1, "yes"))
    assert [e.seq for e in sub.queue] == [1]  # a slow page gets only the latest list
    for seq in range(2, 500):
        hub.publish(meters(seq))
    _, backlog = hub.subscribe(None, lambda: None)
    assert [e.seq for e in backlog if e.type == "checklist"] == [0, 1]  # a page opened later
