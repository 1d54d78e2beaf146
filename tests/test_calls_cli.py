"""`assist demo --store`, `assist calls`, `assist calls export` and `assist report` as a user runs
them: what is recorded, listed and exported, and one-line errors for bad input."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import timeline

from assist.cli import main
from assist.runtime.store import CallStore
from assist.runtime.wavio import write_wav


@pytest.fixture
def call_wav(tmp_path: Path) -> Path:
    path = tmp_path / "call.wav"
    agent = timeline(14, [(0.5, 2.5)])
    customer = timeline(14, [(3.0, 4.0)], seed=5)
    write_wav(path, np.stack([agent, customer], 1), 8000)
    return path


def demo(call: Path, *args: str) -> int:
    return main(["demo", str(call), "--fast", "--no-server", "--asr", "off", *args])


def lines(text: str) -> list[str]:
    return [x for x in text.splitlines() if x.strip()]


def test_a_recorded_demo_is_listed_exported_and_reported(
    call_wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, ev = tmp_path / "calls.sqlite3", tmp_path / "ev.jsonl"
    assert demo(call_wav, "--store", str(db), "--events", str(ev), "--call-id", "demo-abc") == 0
    assert f"Stored call demo-abc in {db}" in capsys.readouterr().err
    played = [json.loads(x) for x in lines(ev.read_text())]

    assert main(["calls", "--store", str(db)]) == 0
    out = lines(capsys.readouterr().out)
    assert out[0].split()[:2] == ["CALL", "ID"] and len(out) == 2
    prompts = sum(e["type"] == "prompt" for e in played)
    assert out[1].split()[0] == "demo-abc" and "completed" in out[1]
    assert f" {prompts} " in out[1]

    assert main(["calls", "--store", str(db), "--json"]) == 0
    (row,) = [json.loads(x) for x in lines(capsys.readouterr().out)]
    assert row["call_id"] == "demo-abc" and row["events"] == len(played)

    out_json = tmp_path / "c.json"
    assert main(["calls", "--store", str(db), "export", "demo-a", "-o", str(out_json)]) == 0
    doc = json.loads(out_json.read_text())
    assert doc["events"] == played and doc["call"]["status"] == "completed"
    assert main(["calls", "export", "demo-abc", "--store", str(db)]) == 0  # to stdout
    assert json.loads(capsys.readouterr().out) == doc

    report = tmp_path / "r.html"
    assert main(["report", "demo-abc", "--store", str(db), "-o", str(report)]) == 0
    page = report.read_text()
    assert "Call report demo-abc" in page and "<svg " in page  # the timeline, inline
    assert report.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


def test_calls_can_be_told_apart_by_source_language_and_agent(
    call_wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 13 point 13: the list says where a call came from, its language and agent."""
    db = tmp_path / "calls.sqlite3"
    assert demo(call_wav, "--store", str(db), "--call-id", "en-1") == 0
    assert demo(call_wav, "--store", str(db), "--call-id", "zh-1", "--lang", "zh") == 0
    capsys.readouterr()
    assert main(["calls", "--store", str(db)]) == 0
    head, *rows = lines(capsys.readouterr().out)
    assert head.split()[-4:] == ["SOURCE", "LANG", "AGENT", "REMOTE"]
    cells = {r.split()[0]: r.split()[-4:] for r in rows}
    assert cells == {
        "en-1": ["demo", "en", "demo-agent", "-"],
        "zh-1": ["demo", "zh", "demo-agent", "-"],
    }
    # the columns line up under their headings
    assert all(r.index(" demo ") + 1 == head.index("SOURCE") for r in rows)


def test_demo_help_says_lang_sets_pages_and_speech_and_how_the_server_ends(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "rule pack, speech model and the pages' language" in text
    assert "--linger" in text and "--exit-when-done" in text


def demo_with_server(call: Path, tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "assist", "demo", str(call), "--speed", "8", "--port", "0"]
    return subprocess.Popen(
        [*cmd, "--asr", "off", "--store", str(tmp_path / "c.sqlite3"), *extra],
        stdin=subprocess.DEVNULL,  # no terminal, as under a service manager
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # started in the background (`assist demo --linger &` in a script): SIGINT comes
        # ignored, and Ctrl-C must still end it (it once hung there for ever)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )


def test_demo_without_a_terminal_stops_when_done_or_lingers_when_asked(
    call_wav: Path, tmp_path: Path
) -> None:
    """Issue 13 point 12: whether the pages outlive the call is the user's explicit choice."""
    done = demo_with_server(call_wav, tmp_path, "--exit-when-done")
    _, err = done.communicate(timeout=60)
    assert done.returncode == 0 and "pass --linger to keep them up" in err
    lingering = demo_with_server(call_wav, tmp_path, "--linger")
    try:
        assert lingering.stderr is not None
        seen = ""
        while "Ctrl-C to quit" not in seen:
            line = lingering.stderr.readline()
            assert line, f"assist demo --linger exited: {seen}"
            seen += line
        assert "Stored call" in seen
        time.sleep(1.0)
        assert lingering.poll() is None  # the call is over; the pages are still served
        lingering.send_signal(signal.SIGINT)
        assert lingering.wait(30) == 0
    finally:
        if lingering.poll() is None:
            lingering.kill()
    terminated = demo_with_server(call_wav, tmp_path, "--linger")  # a service manager's stop
    try:
        assert terminated.stderr is not None
        while "Ctrl-C to quit" not in (line := terminated.stderr.readline()):
            assert line, "assist demo --linger exited"
        terminated.send_signal(signal.SIGTERM)
        assert terminated.wait(30) == 0
    finally:
        if terminated.poll() is None:
            terminated.kill()


def test_default_store_is_assist_db_and_no_store_records_nothing(
    call_wav: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = tmp_path / "env.sqlite3"
    monkeypatch.setenv("ASSIST_DB", str(db))
    assert demo(call_wav, "--no-store", "--call-id", "x1") == 0
    assert not db.exists()
    assert demo(call_wav, "--call-id", "x2") == 0
    assert db.exists()
    capsys.readouterr()
    assert main(["calls"]) == 0
    assert [x.split()[0] for x in lines(capsys.readouterr().out)[1:]] == ["x2"]


def test_replaying_a_stored_call_id_plays_but_keeps_the_first_recording(
    call_wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "calls.sqlite3"
    assert demo(call_wav, "--store", str(db), "--call-id", "same") == 0
    assert main(["calls", "--store", str(db), "export", "same"]) == 0
    first = capsys.readouterr().out
    assert demo(call_wav, "--store", str(db), "--call-id", "same") == 0
    err = capsys.readouterr().err
    assert "call same is already stored; not recording this run" in err
    assert main(["calls", "--store", str(db), "export", "same"]) == 0
    assert json.loads(capsys.readouterr().out)["events"] == json.loads(first)["events"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["calls", "--store", "{tmp}/missing.sqlite3"], "no call store here"),
        (["calls", "--store", "{tmp}/junk.sqlite3"], "not a usable call store"),
        (["calls", "--store", "{db}", "export", "nope"], "no call 'nope'"),
        (["report", "nope", "--store", "{db}"], "no call 'nope'"),
        (["report", "rec", "--store", "{db}", "-o", "{tmp}/x.png"], "give the .html name"),
        (
            ["calls", "--store", "{db}", "export", "rec", "-o", "{tmp}/no/such/dir/x.json"],
            "cannot write",
        ),
        (["calls", "--store", "{db}", "--limit", "-1"], "--limit must be 0 or more"),
        (  # the folder the user named, not the PNG derived from it (issue 23)
            ["report", "rec", "--store", "{db}", "-o", "{tmp}/nodir/x.html"],
            "{tmp}/nodir/x.html: cannot write: no such folder {tmp}/nodir",
        ),
        (  # a bad [overlay] key is refused with the server off too (issue 23)
            ["demo", "--no-server", "--config", "{tmp}/bad-overlay.toml", "--store", "{db}"],
            "overlay.prot: unknown key",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str],
    message: str,
    call_wav: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = tmp_path / "calls.sqlite3"
    assert demo(call_wav, "--store", str(db), "--call-id", "rec") == 0
    (tmp_path / "junk.sqlite3").write_text("not a database\n" * 50)
    (tmp_path / "bad-overlay.toml").write_text("[overlay]\nprot = 8080\n")
    capsys.readouterr()
    argv = [a.format(tmp=tmp_path, db=db) for a in args]
    message = message.format(tmp=tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(lines(err)) == 1 and err.startswith("assist: error: ") and message in err
    assert main(["calls", "--store", str(db), "export", "rec"]) == 0  # nothing was lost
    assert json.loads(capsys.readouterr().out)["events"][-1]["type"] == "call_ended"


def test_report_default_name_is_safe_for_any_call_id(
    call_wav: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "calls.sqlite3"
    call_id = "a/b:c@host"  # SIP Call-IDs may hold characters a file name cannot
    assert demo(call_wav, "--store", str(db), "--call-id", call_id) == 0
    monkeypatch.chdir(tmp_path)
    assert main(["report", call_id, "--store", str(db)]) == 0
    assert (tmp_path / "report-a_b_c@host.html").is_file()
    assert (tmp_path / "report-a_b_c@host.png").is_file()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_ends_the_stored_call_as_interrupted_not_recovered(
    call_wav: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    db = tmp_path / "calls.sqlite3"
    cmd = [sys.executable, "-m", "assist", "demo", str(call_wav), "--no-server", "--asr", "off"]
    proc = subprocess.Popen(
        [*cmd, "--store", str(db), "--call-id", "cc", "--events", str(tmp_path / "e.jsonl")],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while (
            not (tmp_path / "e.jsonl").exists()
            or "meters" not in (tmp_path / "e.jsonl").read_text()
        ):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    with CallStore(db) as store:
        (row,) = store.calls()
        last = store.events("cc")[-1]
    assert row.status == "interrupted" and not row.recovered
    assert last["type"] == "call_ended" and last["data"]["reason"] == "interrupted"
    assert last["t"] < 14.0  # it really stopped mid-call
