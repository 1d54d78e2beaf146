"""`assist demo` with speech: the bundled English call on the PocketSphinx default."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def assist(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assist", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=env,
    )


def test_bundled_call_shows_transcripts_and_word_prompts(tmp_path: Path) -> None:
    import os

    # --asr sphinx: the same engine `auto` picks on a plain install (tested in test_asr.py),
    # whatever models a developer has unpacked into models/
    env = {**os.environ, "ASSIST_MODELS": str(tmp_path)}
    r = assist(
        "demo", "--fast", "--no-server", "--no-store", "--events", "-", "--asr", "sphinx", env=env
    )
    assert r.returncode == 0, r.stderr
    assert "speech: pocketsphinx:en-us (--asr sphinx)" in r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert events[0]["data"]["asr"] == "pocketsphinx:en-us (fallback)"
    finals = [e for e in events if e["type"] == "transcript" and e["data"]["kind"] == "final"]
    assert {e["data"]["speaker"] for e in finals} == {"agent", "customer"}
    assert all(e["data"]["engine"] == "pocketsphinx:en-us" for e in finals)
    assert all(e["t"] >= e["data"]["end"] for e in finals)
    rules = {e["data"]["rule"]: e for e in events if e["type"] == "prompt"}
    # the customer's complaint (espeak: "...I want to make a complaint.") is heard
    assert rules["negative_phrase"]["data"]["evidence"]["speaker"] == "customer"
    assert {"customer_silence", "agent_silence"} <= set(rules)


def test_asr_choice_errors_are_one_line() -> None:
    r = assist("demo", "--fast", "--no-server", "--no-store", "--lang", "zh", "--asr", "vosk")
    assert r.returncode == 2
    assert r.stderr.startswith("assist: error: no Vosk model for 'zh'")
    assert r.stderr.count("\n") == 1
    r = assist("demo", "--no-server", "--no-store", "--model", "/nonexistent")
    assert r.returncode == 2 and "not a Vosk model folder" in r.stderr
