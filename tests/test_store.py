"""The call store: every event kept, bounded writer, kill -9 loses under a second, recovery."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import timeline

from assist.core.audio import FRAME_SAMPLES
from assist.core.errors import InputError
from assist.core.events import CallStarted, Event, Meters, SpeakerMeters
from assist.core.session import CallSession
from assist.runtime.packs import default_pack
from assist.runtime.runner import CallRunner, ListSink
from assist.runtime.store import CallStore, default_path
from assist.runtime.wavio import write_wav

ROOT = Path(__file__).resolve().parents[1]


def record(store: CallStore, call_id: str, seconds: float = 14.0) -> list[Event]:
    """Play a short synthetic call through a CallRunner into the store; return what it sent."""
    session = CallSession(call_id, pack=default_pack("en"))
    seen = ListSink()
    runner = CallRunner(session, [seen, store.sink(call_id)], block=True).start()
    agent = timeline(seconds, [(0.5, 2.5)])
    customer = timeline(seconds, [(3.0, 4.0)], seed=5)
    for i in range(agent.shape[0] // FRAME_SAMPLES):
        sl = slice(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES)
        runner.push(agent[sl], customer[sl])
    runner.finish(timeout=30)
    assert runner.error is None
    return seen.events


def test_every_event_is_stored_in_order_with_its_call_row(tmp_path: Path) -> None:
    with CallStore(tmp_path / "calls.sqlite3") as store:
        sent = record(store, "c1")
        stored = store.events("c1")
        (row,) = store.calls()
    assert stored == [e.to_dict() for e in sent]
    assert [e["seq"] for e in stored] == list(range(len(sent)))
    assert row.call_id == "c1" and row.status == "completed" and not row.recovered
    assert row.events == len(sent) and row.events_not_stored == 0 == row.audio_frames_dropped
    assert row.duration_s == pytest.approx(sent[-1].t)
    assert row.prompts == sum(e.type == "prompt" for e in sent) >= 1
    db = sqlite3.connect(tmp_path / "calls.sqlite3")
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    by_type = db.execute("SELECT count(*) FROM events WHERE type = 'meters'").fetchone()
    assert by_type == (sum(e.type == "meters" for e in sent),)


def test_audio_drops_and_unstored_events_are_two_counters(tmp_path: Path) -> None:
    """Frames lost to overload (from `dropped` events) are not the store's own losses."""
    from assist.core.events import Dropped

    with CallStore(tmp_path / "calls.sqlite3") as store:
        session = CallSession("c1", pack=default_pack("en"))
        sink = store.sink("c1")
        for ev in session.start():
            sink.send(ev)
        for data in (
            Dropped(queue="audio", count=40, total=40),
            Dropped(queue="asr_customer", count=7, total=7),
            Dropped(queue="work", count=3, total=3),  # results, not audio
        ):
            for ev in session.note(data):
                sink.send(ev)
        for ev in session.end():
            sink.send(ev)
        sink.close()
        store.flush()
        (row,) = store.calls()
    assert row.audio_frames_dropped == 47 and row.events_not_stored == 0
    exported = row.to_dict()
    assert exported["audio_frames_dropped"] == 47 and exported["events_not_stored"] == 0
    assert "dropped" not in exported


def test_calls_from_two_runs_are_listed_newest_first_and_found_by_prefix(tmp_path: Path) -> None:
    path = tmp_path / "calls.sqlite3"
    with CallStore(path) as store:
        record(store, "alpha-1", 3)
    time.sleep(0.01)  # started_at has millisecond resolution
    with CallStore(path) as store:
        record(store, "beta-2", 3)
        assert [r.call_id for r in store.calls()] == ["beta-2", "alpha-1"]
        assert store.find("alp").call_id == "alpha-1"
        with pytest.raises(InputError, match="no call 'gamma'"):
            store.find("gamma")
        record(store, "alpha-3", 3)
        with pytest.raises(InputError, match="ambiguous"):
            store.find("alpha")


def test_a_second_sink_for_a_stored_call_is_refused(tmp_path: Path) -> None:
    with CallStore(tmp_path / "calls.sqlite3") as store:
        record(store, "dup", 2)
        with pytest.raises(InputError, match="already in the store"):
            store.sink("dup")
        assert store.events("dup")[-1]["type"] == "call_ended"


def test_other_threads_ask_and_open_sinks_without_touching_the_owners_connection(
    tmp_path: Path,
) -> None:
    """A SIP call is set up off the thread that opened the store: has_call and sink() must
    work there (sqlite3 refuses a connection used from another thread: check_same_thread)."""
    with CallStore(tmp_path / "calls.sqlite3") as store:
        record(store, "first", 2)
        got: list[object] = []

        def elsewhere() -> None:
            try:
                got.append(store.has_call("first"))
                got.append(store.has_call("second"))
                sink = store.sink("second")
                session = CallSession("second", pack=default_pack("en"))
                for ev in session.start() + session.end("completed"):
                    sink.send(ev)
                sink.close()
                got.append(store.has_call("second"))
                store.sink("second")
            except Exception as exc:  # noqa: BLE001 - the test looks at what was raised
                got.append(exc)

        t = threading.Thread(target=elsewhere)
        t.start()
        t.join(20)
        assert got[:3] == [True, False, True], got
        assert isinstance(got[3], InputError) and "already in the store" in str(got[3])
        assert [r.call_id for r in store.calls()] == ["second", "first"]
        assert store.events("second")[-1]["type"] == "call_ended"


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _half_call(store: CallStore, call_id: str, frames: int = 200) -> list[Event]:
    """A call whose runner never finishes: started, some audio, no call_ended."""
    session = CallSession(call_id, pack=default_pack("en"))
    sink = store.sink(call_id)
    events = session.start()
    agent = timeline(frames * FRAME_SAMPLES / 16000, [(0.2, 1.5)])
    silent = np.zeros(FRAME_SAMPLES, np.float32)
    for i in range(frames):
        events += session.feed(agent[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES], silent)
    for ev in events:
        sink.send(ev)
    assert store.flush()
    return events


def test_a_call_whose_process_died_is_ended_as_interrupted_on_reopen(tmp_path: Path) -> None:
    path = tmp_path / "calls.sqlite3"
    with CallStore(path) as store:
        sent = _half_call(store, "lost")
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE calls SET pid = ? WHERE call_id = 'lost'", (_dead_pid(),))
    db.close()
    with CallStore(path) as store:
        assert store.recovered == ["lost"]
        (row,) = store.calls()
        events = store.events("lost")
    assert row.status == "interrupted" and row.recovered
    assert events[:-1] == [e.to_dict() for e in sent]
    end = events[-1]
    assert end["type"] == "call_ended" and end["seq"] == sent[-1].seq + 1
    assert end["t"] == pytest.approx(sent[-1].t) and end["data"]["reason"] == "interrupted"
    assert end["data"]["duration_s"] == pytest.approx(sent[-1].t)
    Event.from_dict(end)  # a valid v1 envelope
    with CallStore(path) as store:  # recovering twice changes nothing
        assert store.recovered == [] and len(store.events("lost")) == len(events)


def test_a_live_call_of_a_running_process_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "calls.sqlite3"
    writer = CallStore(path)
    try:
        _half_call(writer, "live")
        with CallStore(path) as reader:  # e.g. `assist calls` while the call runs
            assert reader.recovered == []
            assert reader.calls()[0].status == "live"
    finally:
        writer.close()


def test_a_stalled_disk_drops_events_counts_them_and_never_blocks_send(tmp_path: Path) -> None:
    store = CallStore(tmp_path / "calls.sqlite3", queue_events=5)
    entered, release = threading.Event(), threading.Event()
    apply = store._apply

    def slow_apply(db: sqlite3.Connection, ev: Event) -> None:  # a disk that hangs
        entered.set()
        release.wait(10)
        apply(db, ev)

    store._apply = slow_apply  # type: ignore[method-assign]
    sink = store.sink("slow")
    sink.send(Event("slow", 0, 0.0, CallStarted(lang="en", source="demo", sample_rate=16000)))
    assert entered.wait(5)
    quiet = SpeakerMeters(speaking=False, talk_share=0.0, level_dbfs=-120.0, noise_dbfs=-90.0)
    for seq in range(1, 100):
        sink.send(Event("slow", seq, seq * 0.5, Meters(agent=quiet, customer=quiet, silence_s=0)))
    assert (sink.sent, sink.dropped) == (6, 94)  # one in the writer, five queued, rest dropped
    release.set()
    sink.close()
    (row,) = store.calls()
    assert row.events_not_stored == 94 and row.events == 6
    store.close()


def test_a_file_that_is_not_a_database_is_a_clear_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "calls.sqlite3"
    bad.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(InputError, match="not a usable call store"):
        CallStore(bad)
    with pytest.raises(InputError, match="no call store here"):
        CallStore.open_existing(tmp_path / "missing.sqlite3")


def test_default_path_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ASSIST_DB", str(tmp_path / "x.db"))
    assert default_path() == tmp_path / "x.db"
    monkeypatch.delenv("ASSIST_DB")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_path() == tmp_path / "data" / "softphone-assist" / "calls.sqlite3"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_path() == tmp_path / "home/.local/share/softphone-assist/calls.sqlite3"


def test_kill_9_mid_call_loses_under_a_second_and_the_call_is_marked_interrupted(
    tmp_path: Path,
) -> None:
    call = tmp_path / "call.wav"
    parts = [(0.5 + 3 * k, 2.0 + 3 * k) for k in range(10)]
    agent = timeline(30, parts)
    customer = timeline(30, [(a + 1.6, b + 1.0) for a, b in parts], seed=7)
    write_wav(call, np.stack([agent, customer], 1), 16000)
    db, jsonl = tmp_path / "calls.sqlite3", tmp_path / "events.jsonl"
    cmd = [sys.executable, "-m", "assist", "demo", str(call), "--speed", "1", "--no-server"]
    cmd += ["--store", str(db), "--events", str(jsonl), "--call-id", "k9", "--asr", "off"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        seen_t = 0.0
        while seen_t < 4.0:  # 4 s into the call, played in real time as a live call would be
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
            lines = jsonl.read_text().splitlines() if jsonl.exists() else []
            seen_t = json.loads(lines[-1])["t"] if lines and lines[-1].endswith("}") else 0.0
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    written = [json.loads(line) for line in jsonl.read_text().splitlines() if line.endswith("}")]
    kill_t = written[-1]["t"]  # the JSONL sink flushes each event: the audio time of the kill
    raw = sqlite3.connect(db)  # the file as the killed process left it, before any recovery
    stored = [json.loads(b) for (b,) in raw.execute("SELECT body FROM events ORDER BY seq")]
    raw.close()
    assert stored == written[: len(stored)]  # a prefix of what happened, nothing made up
    assert kill_t - stored[-1]["t"] <= 1.0, (kill_t, stored[-1]["t"])
    assert 20.0 < 30 - kill_t  # it really was mid-call
    with CallStore(db) as store:
        assert store.recovered == ["k9"]
        (row,) = store.calls()
        events = store.events("k9")
    assert row.status == "interrupted" and row.recovered
    assert events[-1]["type"] == "call_ended" and events[-1]["data"]["reason"] == "interrupted"
    assert events[-1]["seq"] == stored[-1]["seq"] + 1
    assert os.path.getsize(db) > 0


def test_a_failing_disk_is_reported_and_the_call_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from assist.commands.calls import finish_store

    failed: list[BaseException] = []
    store = CallStore(tmp_path / "calls.sqlite3", failed=failed.append)
    apply = store._apply

    def failing_apply(db: sqlite3.Connection, ev: Event) -> None:
        if ev.seq >= 3:
            raise sqlite3.OperationalError("disk I/O error")
        apply(db, ev)

    store._apply = failing_apply  # type: ignore[method-assign]
    sink = store.sink("bad")
    session = CallSession("bad", pack=default_pack("en"))
    runner = CallRunner(session, [sink], block=True).start()
    agent = timeline(4, [(0.5, 2.5)])
    for i in range(agent.shape[0] // FRAME_SAMPLES):
        runner.push(agent[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES], agent[:FRAME_SAMPLES] * 0)
    runner.finish(timeout=30)
    assert runner.error is None and session.ended  # the analysis was not disturbed
    finish_store(store, sink)
    assert [str(e) for e in failed] == ["disk I/O error"]  # told once, when it happened
    assert "until the store failed" in capsys.readouterr().err
    with CallStore(tmp_path / "calls.sqlite3") as again:  # what was written before is kept
        assert [e["seq"] for e in again.events("bad")] == [0, 1, 2]


def test_a_failure_on_the_first_write_does_not_hold_the_database_lock(tmp_path: Path) -> None:
    path = tmp_path / "calls.sqlite3"
    store = CallStore(path)
    apply = store._apply

    def fail_after_writing(db: sqlite3.Connection, ev: Event) -> None:
        apply(db, ev)
        raise sqlite3.OperationalError("disk I/O error")

    store._apply = fail_after_writing  # type: ignore[method-assign]
    sink = store.sink("first")
    sink.send(Event("first", 0, 0.0, CallStarted(lang="en", source="demo", sample_rate=16000)))
    assert store.flush() and store.error is not None
    other = sqlite3.connect(path, timeout=2)  # another process recording a call meanwhile
    other.execute("BEGIN IMMEDIATE")  # raises 'database is locked' if the writer kept it
    other.rollback()
    other.close()
    store.close()


@pytest.mark.timeout(60)
def test_a_writer_that_dies_of_anything_is_reported_and_close_does_not_hang(
    tmp_path: Path,
) -> None:
    """Only sqlite3.Error used to be caught: anything else ended the writer, the queue filled
    and close() waited for ever to put its `stop` on it."""
    failed: list[BaseException] = []
    store = CallStore(tmp_path / "calls.sqlite3", queue_events=4, failed=failed.append)

    def broken_apply(db: sqlite3.Connection, ev: Event) -> None:
        raise RuntimeError("a bug in the writer")

    store._apply = broken_apply  # type: ignore[method-assign]
    sink = store.sink("dies")
    started = CallStarted(lang="en", source="demo", sample_rate=16000)
    for seq in range(50):  # far more than the queue holds
        sink.send(Event("dies", seq, seq * 0.02, started))
    t0 = time.monotonic()
    store.close()  # before the fix: for ever (the test's timeout ends it)
    assert time.monotonic() - t0 < 15
    assert [repr(e) for e in failed] == ["RuntimeError('a bug in the writer')"]
    assert isinstance(store.error, RuntimeError)


def test_a_store_that_fails_mid_call_is_one_line_an_error_event_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`assist demo`: the call plays to its end; the line says what is lost; exit 1."""
    from assist.cli import main

    apply = CallStore._apply

    def failing_apply(self: CallStore, db: sqlite3.Connection, ev: Event) -> None:
        if ev.seq >= 3:
            raise RuntimeError("writer bug")
        apply(self, db, ev)

    monkeypatch.setattr(CallStore, "_apply", failing_apply)
    call = tmp_path / "call.wav"
    write_wav(call, np.stack([timeline(4, [(0.5, 2.0)]), timeline(4, [], seed=3)], 1), 16000)
    db, ev = tmp_path / "calls.sqlite3", tmp_path / "events.jsonl"
    code = main(
        ["demo", str(call), "--fast", "--no-server", "--asr", "off", "--call-id", "s1"]
        + ["--store", str(db), "--events", str(ev)]
    )
    err = capsys.readouterr().err
    assert code == 1, err
    said = [line for line in err.splitlines() if line.startswith("assist: ")]
    assert said == [
        f"assist: error: {db}: call store failed: RuntimeError('writer bug'); "
        "calls go on unrecorded"
    ]
    events = [json.loads(line) for line in ev.read_text().splitlines()]
    assert events[-1]["type"] == "call_ended"  # the call played to its end
    errors = [e["data"] for e in events if e["type"] == "error"]
    assert [(e["source"], e["recoverable"]) for e in errors] == [("store", True)]


def test_a_transferred_recorded_call_is_stored_under_the_new_agent(tmp_path: Path) -> None:
    """A SIPREC transfer (`recording` with `update` and the new `agent`) moves the call's row to
    the new agent, as the board does; a pause (same agent) and no agent leave it alone."""
    from assist.core.events import Recording

    with CallStore(tmp_path / "calls.sqlite3") as store:
        session = CallSession("srs-1", pack=default_pack("en"), source="srs", agent="alice")
        sink = store.sink("srs-1")
        for ev in session.start():
            sink.send(ev)
        for data in (
            Recording(agent_aor="sip:1001@pbx", agent="alice"),
            Recording(agent_aor="sip:2002@pbx", agent="bob", update=True),
            Recording(agent_aor="sip:2002@pbx", agent="", update=True),  # bound to nobody known
        ):
            for ev in session.note(data):
                sink.send(ev)
        for ev in session.end():
            sink.send(ev)
        store.flush()
        (row,) = store.calls()
        kept = [e["data"]["agent"] for e in store.events("srs-1") if e["type"] == "recording"]
    assert row.agent == "bob"
    assert kept == ["alice", "bob", ""]  # who had it before stays in the call's events
