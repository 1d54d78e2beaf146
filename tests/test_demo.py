"""`assist demo` as a user runs it: the bundled call, bad input, and the overlay server."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import timeline

from assist.runtime.wavio import write_wav

ROOT = Path(__file__).resolve().parents[1]


def assist(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assist", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def jsonl(text: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def bundled_run() -> subprocess.CompletedProcess[str]:
    """`assist demo --fast` on the bundled call with the default install (--asr auto), run
    once for the tests that read its events."""
    return assist("demo", "--fast", "--no-server", "--events", "-", timeout=300)


def test_bundled_call_fast_prints_a_customer_silence_prompt_at_the_right_time(
    bundled_run: subprocess.CompletedProcess[str],
) -> None:
    r = bundled_run
    assert r.returncode == 0, r.stderr
    events = jsonl(r.stdout)
    assert events[0]["type"] == "call_started" and events[-1]["type"] == "call_ended"
    prompts = [e for e in events if e["type"] == "prompt"]
    assert {"customer_silence", "agent_silence"} <= {p["data"]["rule"] for p in prompts}
    (silence,) = [p for p in prompts if p["data"]["rule"] == "customer_silence"]
    agent_stops = [
        e["data"]["at"]
        for e in events
        if e["type"] == "speech"
        and e["data"]["speaker"] == "agent"
        and e["data"]["state"] == "stop"
        and e["t"] <= silence["t"]
    ]
    assert 8.0 <= silence["t"] - agent_stops[-1] <= 8.1
    assert silence["data"]["text"] == "Customer silent 8s — acknowledge / check in"


def test_chinese_demo_call_prompts_in_chinese() -> None:
    r = assist("demo", "--fast", "--no-server", "--events", "-", "--lang", "zh")
    assert r.returncode == 0, r.stderr
    events = jsonl(r.stdout)
    assert events[0]["data"]["lang"] == "zh"
    texts = {e["data"]["rule"]: e["data"]["text"] for e in events if e["type"] == "prompt"}
    assert texts["customer_silence"] == "客户沉默8秒——请主动确认"


def test_fast_and_paced_runs_give_the_same_events(tmp_path: Path) -> None:
    call = tmp_path / "c.wav"
    write_wav(call, np.stack([timeline(11, [(0.3, 1.5)]), timeline(11, [], seed=4)], 1), 16000)
    # ASR off: at 20x real time no recogniser keeps its 0.3 s alignment, so its results land
    # later (and say so); fast vs real-time ASR equality is tested in test_asr_worker.py.
    off = ("--no-server", "--events", "-", "--call-id", "x", "--asr", "off")
    fast = assist("demo", str(call), "--fast", *off)
    paced = assist("demo", str(call), "--speed", "20", *off)
    assert fast.returncode == paced.returncode == 0
    assert jsonl(fast.stdout) == jsonl(paced.stdout)
    assert any(e["type"] == "prompt" for e in jsonl(fast.stdout))


def test_events_file_and_two_file_input(tmp_path: Path) -> None:
    write_wav(tmp_path / "a.wav", timeline(3, [(0.5, 1.5)]), 16000)
    write_wav(tmp_path / "b.wav", timeline(3, [], seed=2), 8000)
    out = tmp_path / "ev.jsonl"
    r = assist(
        "demo",
        "--agent",
        str(tmp_path / "a.wav"),
        "--customer",
        str(tmp_path / "b.wav"),
        "--fast",
        "--no-server",
        "--events",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    events = jsonl(out.read_text())
    assert [e["data"]["speaker"] for e in events if e["type"] == "speech"] == ["agent", "agent"]


def pcm_wav(
    tmp: Path,
    name: str,
    data: bytes,
    *,
    tag: int = 1,
    channels: int = 2,
    rate: int = 16000,
    bits: int = 16,
) -> Path:
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    body = b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data
    p = tmp / name
    p.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body)
    return p


SPEECH = timeline(1, [(0.1, 0.9)])


@pytest.mark.parametrize(
    ("name", "build"),
    [
        (
            "u8.wav",
            lambda t: pcm_wav(
                t, "u8.wav", np.repeat((SPEECH * 127 + 128).astype(np.uint8), 2).tobytes(), bits=8
            ),
        ),
        (
            "s24.wav",
            lambda t: pcm_wav(
                t,
                "s24.wav",
                b"".join(int(v * 8e6).to_bytes(3, "little", signed=True) * 2 for v in SPEECH),
                bits=24,
            ),
        ),
        (
            "f32.wav",
            lambda t: pcm_wav(
                t, "f32.wav", np.repeat(SPEECH, 2).astype("<f4").tobytes(), tag=3, bits=32
            ),
        ),
        (
            "six.wav",
            lambda t: pcm_wav(
                t, "six.wav", np.repeat((SPEECH * 3e4).astype("<i2"), 6).tobytes(), channels=6
            ),
        ),
        (
            "cd.wav",
            lambda t: pcm_wav(t, "cd.wav", np.zeros(44100 * 2, "<i2").tobytes(), rate=44100),
        ),
    ],
)
def test_unusual_but_valid_wavs_play(tmp_path: Path, name: str, build) -> None:  # type: ignore[no-untyped-def]
    path = build(tmp_path)
    # ASR off: the file is read and resampled to 16 kHz before anything else sees it, so the
    # recognisers get the same audio whatever the file's format (and cost seconds a file)
    r = assist("demo", str(path), "--fast", "--no-server", "--events", "-", "--asr", "off")
    assert r.returncode == 0, r.stderr
    events = jsonl(r.stdout)
    assert events[-1]["type"] == "call_ended"
    assert events[-1]["data"]["duration_s"] == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["missing.wav"], "missing.wav: no such file"),
        (["text.wav"], "not a WAV file"),
        (["empty.wav"], "empty file"),
        (["truncated.wav"], "no data chunk"),
        (["headeronly.wav"], "no audio samples"),
        (["mono.wav"], "mono WAV"),
        (["--agent", "mono.wav"], "give both --agent and --customer"),
        (["stereo.wav", "--speed", "0"], "--speed must be greater than 0"),
        (["stereo.wav", "--rules", "norules.toml"], "norules.toml: no such file"),
        (["stereo.wav", "--events", "/nonexistent/dir/e.jsonl"], "cannot write events"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], problem: str) -> None:
    (tmp_path / "text.wav").write_text("this is not audio\n")
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "truncated.wav").write_bytes(
        pcm_wav(tmp_path, "x.wav", b"\0" * 400).read_bytes()[:40]
    )
    pcm_wav(tmp_path, "headeronly.wav", b"")
    write_wav(tmp_path / "mono.wav", np.zeros(1600), 16000)
    write_wav(tmp_path / "stereo.wav", np.zeros((1600, 2)), 16000)
    if args[0] != "--agent":
        args = [str(tmp_path / args[0]), *args[1:]]
    else:
        args = ["--agent", str(tmp_path / args[1])]
    args = [a if not a.endswith(".toml") else str(tmp_path / a) for a in args]
    pace = [] if "--speed" in args else ["--fast"]
    r = assist("demo", *args, *pace, "--no-server")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and problem in lines[0], r.stderr
    assert lines[0].startswith("assist: error: ")


def test_bad_rule_file_names_the_line(tmp_path: Path) -> None:
    write_wav(tmp_path / "c.wav", np.zeros((1600, 2)), 16000)
    rules = tmp_path / "r.toml"
    rules.write_text(
        '[[rule]]\nid = "customer_silence"\ndetector = "silence_after"\n'
        'text = "x"\nseverity = "loud"\n'
    )
    r = assist("demo", str(tmp_path / "c.wav"), "--rules", str(rules), "--fast", "--no-server")
    assert r.returncode == 2 and f"{rules}:5: rule[customer_silence].severity: " in r.stderr


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    write_wav(tmp_path / "c.wav", np.zeros((1600, 2)), 16000)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = assist("demo", str(tmp_path / "c.wav"), "--fast", "--port", str(port))
    assert r.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in r.stderr
    assert "Traceback" not in r.stderr


def test_usage_errors_are_one_line_too() -> None:
    r = assist("demo", "--fast", "--speed", "2")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "assist: error: argument --speed: not allowed with argument --fast"
    ]


def test_schema_command_prints_the_schema() -> None:
    r = assist("schema")
    assert r.returncode == 0
    schema = json.loads(r.stdout)
    assert {v["title"] for v in schema["oneOf"]} >= {"prompt", "transcript", "meters"}


DEMO_RULES = {
    "greeting",
    "negative_phrase",
    "overtalk",
    "agent_wording",
    "customer_silence",
    "agent_silence",
    "confirm_numbers",
    "anything_else",
    "restate",  # "Let me look at your account": a fix, the complaint never restated
}


def test_bundled_english_demo_shows_exactly_its_cues_with_the_default_install(
    bundled_run: subprocess.CompletedProcess[str],
) -> None:
    """`assist demo --fast` as the README's first command leaves it: default --asr auto, i.e.
    the packaged Whisper tiny.en alone (no English Vosk model here)."""
    r = bundled_run
    assert r.returncode == 0, r.stderr
    events = jsonl(r.stdout)
    assert events[0]["data"]["asr"] == "whisper:tiny.en"  # no PocketSphinx beside Whisper
    assert {e["data"]["rule"] for e in events if e["type"] == "prompt"} == DEMO_RULES
    finals = [e["data"] for e in events if e["type"] == "transcript"]
    assert finals and all(f["kind"] == "final" and f["asr_pass"] == 2 for f in finals)
    said = " ".join(f["text"] for f in finals).lower()
    for words in ("my name is sam", "this is ridiculous", "4729183", "thank you for calling"):
        assert words in said, said
    (numbers,) = [
        e for e in events if e["type"] == "prompt" and e["data"]["rule"] == "confirm_numbers"
    ]
    assert numbers["data"]["evidence"]["numbers"] == "4729183"


def test_a_failing_events_file_is_detached_and_the_call_is_still_stored(tmp_path: Path) -> None:
    """--events on a full disk (/dev/full): a warning, and the store still has the whole call."""
    call = tmp_path / "call.wav"
    write_wav(call, np.stack([timeline(6, [(0.5, 2.0)]), timeline(6, [], seed=3)], 1), 16000)
    db = tmp_path / "calls.sqlite3"
    r = assist(
        "demo", str(call), "--fast", "--no-server", "--asr", "off", "--call-id", "full",
        "--events", "/dev/full", "--store", str(db),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    said = [line for line in r.stderr.splitlines() if line.startswith("assist: warning")]
    assert said == [  # one line, as it happened
        "assist: warning: call full: sink:JsonlSink: OSError(28, 'No space left on device'); "
        "the call goes on"
    ]
    assert "Traceback" not in r.stderr
    out = assist("calls", "export", "full", "--store", str(db))
    assert out.returncode == 0, out.stderr
    events = json.loads(out.stdout)["events"]
    assert events[-1]["type"] == "call_ended"
    errors = [e["data"] for e in events if e["type"] == "error"]
    assert errors and errors[0]["source"] == "sink:JsonlSink"
