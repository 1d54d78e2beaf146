"""The supervisor board: summaries, flags (alert prompt, agitation held 10 s), ordering."""

from __future__ import annotations

from assist.core.events import (
    CallEnded,
    CallStarted,
    Checklist,
    ChecklistItem,
    Event,
    EventData,
    Feedback,
    Meters,
    Prompt,
    PromptCleared,
    Recording,
    SpeakerMeters,
)
from overlay.board import AGITATION_FLAG_S, FLAG_HOLD_S, CallBoard


class Call:
    def __init__(self, board: CallBoard, call_id: str, agent: str = "a") -> None:
        self.board, self.call_id, self.seq = board, call_id, 0
        self.send(0.0, CallStarted(lang="en", source="demo", sample_rate=16000, agent=agent))

    def send(self, t: float, data: EventData) -> bool:
        self.seq += 1
        return self.board.apply(Event(self.call_id, self.seq, t, data))

    def meters(self, t: float, mood: str | None) -> None:
        sm = SpeakerMeters(speaking=True, talk_share=0.5, level_dbfs=-20, noise_dbfs=-60)
        self.send(t, Meters(agent=sm, customer=sm, silence_s=0, mood=mood))

    def prompt(self, t: float, pid: str, severity: str, rule: str = "r", title: str = "") -> None:
        p = Prompt(prompt_id=pid, rule=rule, text=f"{rule}!", severity=severity, title=title)  # type: ignore[arg-type]
        self.send(t, p)


def row(board: CallBoard, call_id: str) -> dict:  # type: ignore[type-arg]
    return next(r for r in board.snapshot() if r["call_id"] == call_id)


def test_alert_prompt_flags_the_call_and_puts_it_first() -> None:
    board = CallBoard()
    calm, hot = Call(board, "calm"), Call(board, "hot")
    calm.prompt(5, "w-1", "warn")
    hot.prompt(1, "i-1", "info")
    assert [r["call_id"] for r in board.snapshot()] == ["calm", "hot"]  # warn before info
    hot.prompt(6, "a-1", "alert")
    rows = board.snapshot()
    assert [r["call_id"] for r in rows] == ["hot", "calm"]
    assert rows[0]["flagged"] and rows[0]["flag_reason"] == "alert"
    assert [f["severity"] for f in rows[0]["flags"]] == ["alert", "info"]  # alerts first
    assert rows[0]["last_prompt"]["text"] == "r!" and rows[0]["last_prompt"]["severity"] == "alert"
    hot.send(8, PromptCleared(prompt_id="a-1", rule="r"))
    assert row(board, "hot")["flagged"]  # held for a while so a glance still catches it
    hot.meters(8 + FLAG_HOLD_S + 0.5, None)
    assert not row(board, "hot")["flagged"]


def test_agitation_flags_only_when_held_for_ten_seconds() -> None:
    board = CallBoard()
    c = Call(board, "c")
    c.meters(1.0, "agitated")
    c.meters(1.0 + AGITATION_FLAG_S - 0.5, "agitated")
    assert not row(board, "c")["flagged"]
    c.meters(2.0 + AGITATION_FLAG_S - 0.5, "calm")  # it broke off: the clock restarts
    c.meters(20.0, "agitated")
    c.meters(20.0 + AGITATION_FLAG_S, "agitated")
    r = row(board, "c")
    assert r["flagged"] and r["flag_reason"] == "agitation" and r["mood"] == "agitated"


def test_agitation_prompt_held_ten_seconds_flags_too() -> None:
    board = CallBoard()
    c = Call(board, "c")
    c.prompt(3.0, "agitation-1", "warn", rule="agitation")
    c.meters(3.0 + AGITATION_FLAG_S - 1, None)
    assert not row(board, "c")["flagged"]
    c.meters(3.0 + AGITATION_FLAG_S, None)
    assert row(board, "c")["flag_reason"] == "agitation"


def test_ended_calls_sink_below_live_ones_and_carry_their_duration() -> None:
    board = CallBoard()
    old, new = Call(board, "old", agent="x"), Call(board, "new", agent="y")
    old.send(42.0, CallEnded(duration_s=42.0))
    new.meters(3.0, "calm")
    rows = board.snapshot()
    assert [(r["call_id"], r["live"]) for r in rows] == [("new", True), ("old", False)]
    assert rows[1]["duration_s"] == 42.0 and rows[1]["agent"] == "x"
    assert [r["call_id"] for r in board.snapshot(lambda c: c.agent == "x")] == ["old"]


def test_a_flag_says_why_in_words_and_when_its_cause_cleared() -> None:
    """Issue 13 point 6: never a bare ALERT; a held flag says when its cause ended."""
    board = CallBoard()
    c = Call(board, "c")
    c.prompt(4.0, "w-1", "warn", rule="overtalk", title="Talking over")
    c.prompt(6.0, "a-1", "alert", rule="agitation", title="Customer agitated")
    r = row(board, "c")
    assert (r["flag_reason"], r["flag_title"], r["flag_text"]) == (
        "alert",
        "Customer agitated",
        "agitation!",
    )
    assert r["flag_since"] == 6.0 and r["flag_cleared_at"] is None
    assert [f["title"] for f in r["flags"]] == ["Customer agitated", "Talking over"]
    c.send(9.0, PromptCleared(prompt_id="a-1", rule="agitation"))
    r = row(board, "c")
    assert r["flagged"] and r["flag_cleared_at"] == 9.0 and r["flag_title"] == "Customer agitated"
    assert r["last_prompt"]["title"] == "Customer agitated"
    c.meters(9.0 + FLAG_HOLD_S + 0.5, None)
    r = row(board, "c")
    assert not r["flagged"] and r["flag_title"] == "" and r["flag_cleared_at"] is None
    c.meters(30.0, "agitated")
    c.meters(30.0 + AGITATION_FLAG_S, "agitated")
    r = row(board, "c")
    assert r["flag_reason"] == "agitation" and r["flag_since"] == 30.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_ended_call_drops_its_flag_sorts_below_live_counts_missed_and_goes_later() -> None:
    clock = Clock()
    board = CallBoard(keep_ended_s=60.0, clock=clock)
    live, hot = Call(board, "live"), Call(board, "hot")
    live.meters(3, "calm")
    hot.prompt(5, "a-1", "alert")
    hot.prompt(5.5, "w-1", "warn")
    hot.prompt(6, "w-2", "warn")
    hot.send(6.5, Feedback(prompt_id="w-2", rule="r", verdict="done"))
    assert [r["call_id"] for r in board.snapshot()] == ["hot", "live"]
    hot.send(9, PromptCleared(prompt_id="a-1", rule="r", reason="call_ended"))
    hot.send(9, PromptCleared(prompt_id="w-2", rule="r", reason="call_ended"))  # acted on
    hot.send(9, CallEnded(duration_s=9.0))  # w-1 was never cleared: missed all the same
    r = row(board, "hot")
    assert not r["live"] and r["ended"] and not r["flagged"] and r["flag_reason"] is None
    assert r["flags"] == [] and r["missed"] == 2
    assert [r["call_id"] for r in board.snapshot()] == ["live", "hot"]  # ended below live
    live.meters(60, "calm")  # audio time going on elsewhere changes nothing
    assert not row(board, "hot")["flagged"]
    clock.now += 59
    assert not board.expire() and len(board.snapshot()) == 2
    clock.now += 2
    assert board.expire()
    assert [r["call_id"] for r in board.snapshot()] == ["live"]


def test_the_mood_says_upset_while_an_upset_prompt_is_up_whatever_the_voice() -> None:
    board = CallBoard()
    c = Call(board, "c")
    c.meters(1, "calm")
    assert row(board, "c")["mood"] == "calm"
    c.prompt(2, "n-1", "alert", rule="negative_phrase")
    r = row(board, "c")
    assert r["mood"] == "upset" and r["voice_mood"] == "calm"
    c.send(5, PromptCleared(prompt_id="n-1", rule="negative_phrase"))
    assert row(board, "c")["mood"] == "calm"


def test_the_floor_console_dates_an_end_by_its_stream_entry_not_by_its_reading() -> None:
    from fleet.console import FleetBoard

    clock = Clock()
    board = FleetBoard(keep_ended_s=60.0)
    board.clock = clock
    old, recent = Call(board, "old"), Call(board, "recent")
    for c in (old, recent):
        c.send(5, CallEnded(duration_s=5.0))
    board.ended_ago("old", 3600.0)  # read at start-up, ended an hour ago
    board.ended_ago("recent", 10.0)
    assert board.expire()
    assert [r["call_id"] for r in board.snapshot()] == ["recent"]


def test_a_siprec_transfer_moves_the_row_to_the_new_agent() -> None:
    board = CallBoard()
    call = Call(board, "c", agent="alice")
    assert call.send(0.5, Recording(agent="alice")) and row(board, "c")["agent"] == "alice"
    assert call.send(3.0, Recording(agent="bob", update=True))
    assert row(board, "c")["agent"] == "bob"
    call.send(4.0, Recording(update=True, paused=True))  # no agent named: unchanged
    assert row(board, "c")["agent"] == "bob"


def test_a_siprec_pause_is_on_the_row_until_it_resumes_and_the_call_ends() -> None:
    board = CallBoard()
    call = Call(board, "c", agent="alice")
    call.send(0.5, Recording(agent="alice"))
    r = row(board, "c")
    assert (r["paused"], r["paused_since"], r["resumed_at"]) == (False, None, None)
    assert call.send(12.0, Recording(agent="alice", update=True, paused=True))  # board changed
    r = row(board, "c")
    assert (r["paused"], r["paused_since"], r["resumed_at"]) == (True, 12.0, None)
    call.send(15.0, Recording(agent="bob", update=True, paused=True))  # a transfer in the pause
    assert (row(board, "c")["paused_since"], row(board, "c")["agent"]) == (12.0, "bob")
    call.send(30.0, Recording(agent="bob", update=True, paused=False))
    r = row(board, "c")
    assert (r["paused"], r["paused_since"], r["resumed_at"]) == (False, None, 30.0)
    call.send(40.0, Recording(agent="bob", update=True, paused=True))
    call.send(41.0, CallEnded(duration_s=41.0))  # ended while paused: not paused any more
    assert row(board, "c")["paused"] is False


def test_each_call_shows_its_checklist_score_and_each_agent_their_recent_ones() -> None:
    def checklist(call: Call, t: float, verdicts: str, final: bool = False) -> None:
        items = tuple(
            ChecklistItem(name=f"item{i}", state=("yes" if v == "y" else "no"))
            for i, v in enumerate(verdicts)
        )
        ok = verdicts.count("y")
        call.send(t, Checklist(items=items, score=f"{ok}/{len(verdicts)}", final=final))

    board = CallBoard(keep_ended_s=0.0)  # ended calls leave the board at the next expire()
    first = Call(board, "c1", agent="alice")
    Call(board, "c2", agent="bob")
    checklist(first, 5.0, "yn")
    assert row(board, "c1")["score"] == "1/2" and row(board, "c1")["missed_items"] == ["item1"]
    assert row(board, "c2")["score"] == ""  # no checklist yet
    checklist(first, 30.0, "yny", final=True)
    first.send(30.0, CallEnded(duration_s=30.0))
    board.expire()
    second = Call(board, "c3", agent="alice")
    checklist(second, 20.0, "yyyy", final=True)
    second.send(20.0, CallEnded(duration_s=20.0))
    r = row(board, "c3")
    assert r["score"] == "4/4"
    # newest first, kept after the first call left the board; only alice's own calls
    assert [x["score"] for x in r["agent_recent"]] == ["4/4", "2/3"]
    assert [x["missed"] for x in r["agent_recent"]] == [[], ["item1"]]  # which items, per call
    assert row(board, "c2")["agent_recent"] == []
    checklist(second, 20.0, "yyyy", final=True)  # a replayed final is not counted twice
    assert len(row(board, "c3")["agent_recent"]) == 2
