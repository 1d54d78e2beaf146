"""Phone-like calls (8 kHz mu-law, -50 dBFS line noise) through `assist demo --fast` as a user
runs it: every turn-taking and voice cue fires within 250 ms of audio time after the moment
the audio meets its threshold, and no other cue fires."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from phone import PHONE_CALLS, write_phone_calls

ROOT = Path(__file__).resolve().parents[1]
LATENCY_S = 0.25


@pytest.fixture(scope="module")
def calls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("phone")
    write_phone_calls(folder)
    return folder


@pytest.mark.parametrize("name", list(PHONE_CALLS))
def test_cue_fires_within_250ms_of_its_threshold(calls: Path, name: str) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "assist", "demo", str(calls / f"{name}.wav"), "--fast"]
        + ["--no-server", "--events", "-", "--asr", "off", "--no-store"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    prompts = [(e["t"], e["data"]["rule"]) for e in events if e["type"] == "prompt"]
    expected = PHONE_CALLS[name][2]
    assert sorted(rule for _, rule in prompts) == sorted(expected), prompts
    for t, rule in prompts:
        assert expected[rule] <= t <= expected[rule] + LATENCY_S, (rule, t, expected[rule])
