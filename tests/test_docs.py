"""Docs that state a fact about the code agree with it (each of these once disagreed)."""

from __future__ import annotations

import re
from pathlib import Path

from assist.core.events import CallEnded, CallStarted, Event, Prompt, Speech
from assist.runtime.second_pass import ALIGN_S
from overlay.board import CallBoard

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CODE = ("assist", "sip", "overlay", "fleet")


def test_every_environment_variable_the_code_reads_is_in_the_readme() -> None:
    """ASSIST_WHISPER_URL was read by `models fetch` and named nowhere a user would look."""
    found = set()
    for package in CODE:
        for path in (ROOT / package).rglob("*.py"):
            found |= set(re.findall(r'"(ASSIST_[A-Z_]+)"', path.read_text(encoding="utf-8")))
    docs = README + "".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md"))
    assert found >= {"ASSIST_MODELS_URL", "ASSIST_WHISPER_URL"}
    assert sorted(v for v in found if f"`{v}`" not in docs and v not in docs) == []
    environment = README.split("- **Environment**:")[1].split("\n- ")[0]
    assert "`ASSIST_WHISPER_URL`" in environment and "`ASSIST_MODELS_URL`" in environment


def test_the_readme_says_when_a_final_comes_as_the_code_does() -> None:
    (said,) = re.findall(r"([\d.]+) s of audio after the speech stops", README)
    assert float(said) == ALIGN_S


def test_the_board_order_is_the_one_docs_protocol_md_states() -> None:
    protocol = " ".join((ROOT / "docs" / "protocol.md").read_text(encoding="utf-8").split())
    assert (
        "Order: flagged calls first (the console makes them blink), then live calls before ended "
        "ones, then by the most severe prompt on screen, then the most prompts on screen, then "
        "the longest call." in protocol
    )
    board = CallBoard()

    def prompt(call: str, seq: int, severity: str, rule: str) -> None:
        data = Prompt(prompt_id=f"{rule}-{seq}", rule=rule, text="t", severity=severity)
        board.apply(Event(call, seq, 1.0, data))

    def call(call_id: str, seconds: float, *, ended: bool = False) -> None:
        board.apply(Event(call_id, 0, 0.0, CallStarted(lang="en", source="demo", sample_rate=1)))
        board.apply(Event(call_id, 90, seconds, Speech(speaker="agent", state="start", at=0.0)))
        if ended:
            board.apply(Event(call_id, 99, seconds, CallEnded(duration_s=seconds, reason="x")))

    call("alert", 10)
    prompt("alert", 1, "alert", "a")  # flagged
    call("warn-short", 5)
    prompt("warn-short", 1, "warn", "w")
    call("warn-two", 5)
    prompt("warn-two", 1, "warn", "w")
    prompt("warn-two", 2, "info", "i")
    call("warn-long", 50)
    prompt("warn-long", 1, "warn", "w")
    call("info", 99)
    prompt("info", 1, "info", "i")
    call("ended-warn", 99, ended=True)
    order = [row["call_id"] for row in board.snapshot()]
    assert order == ["alert", "warn-two", "warn-long", "warn-short", "info", "ended-warn"]
