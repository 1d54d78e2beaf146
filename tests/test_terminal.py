"""On a terminal `assist demo` says what happens: a line per prompt as it fires, the next step
at the end, and the pages kept up until Ctrl-C (issue 23, problem 7). The command runs with its
stderr on a real pseudo-terminal; without one it stays quiet (tests/test_calls_cli.py)."""

from __future__ import annotations

import io
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import timeline

from assist.core.audio import ANALYSIS_RATE
from assist.core.events import Event, Prompt, Speech
from assist.runtime.terminal import TerminalSink, next_step
from assist.runtime.wavio import write_wav

pytestmark = pytest.mark.timeout(120)


def test_a_prompt_is_one_line_with_time_rule_and_text() -> None:
    out = io.StringIO()
    sink = TerminalSink(out)
    sink.send(Event("c", 1, 3.0, Speech(speaker="agent", state="start", at=3.0)))
    p = Prompt(prompt_id="p-1", rule="customer_silence", text="Customer silent 8s", severity="warn")
    sink.send(Event("c", 2, 72.4, p))
    assert out.getvalue() == "  1:12  customer_silence  Customer silent 8s\n"
    assert next_step("demo-1") == "Next: assist report demo-1"
    assert next_step("a b", "/tmp/x y.db") == "Next: assist report 'a b' --store '/tmp/x y.db'"


@pytest.fixture
def call_wav(tmp_path: Path) -> Path:
    path = tmp_path / "call.wav"
    agent = timeline(14, [(0.5, 2.0)])  # then silence: customer_silence fires at about 10 s
    write_wav(path, np.stack([agent, agent * 0], 1), ANALYSIS_RATE)
    return path


class OnTerminal:
    """`assist demo ...` with stderr on a pseudo-terminal; what it writes is collected."""

    def __init__(self, *args: str) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "assist", "demo", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=slave,
        )
        os.close(slave)
        self.text = ""

    def read_until(self, want: str, timeout: float = 60.0) -> str:
        end = time.monotonic() + timeout
        while want not in self.text:
            left = end - time.monotonic()
            assert left > 0, f"no {want!r} on the terminal: {self.text!r}"
            ready, _, _ = select.select([self.master], [], [], min(left, 0.5))
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # the process closed the terminal
                    chunk = b""
                if not chunk:
                    assert want in self.text, f"exited without {want!r}: {self.text!r}"
                self.text += chunk.decode(errors="replace").replace("\r\n", "\n")
        return self.text

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        os.close(self.master)


def test_demo_on_a_terminal_prints_each_prompt_and_the_next_step(
    call_wav: Path, tmp_path: Path
) -> None:
    store = str(tmp_path / "calls.sqlite3")
    term = OnTerminal(str(call_wav), "--fast", "--no-server", "--asr", "off", "--store", store,
                      "--call-id", "term-1")  # fmt: skip
    try:
        text = term.read_until("Next: assist report term-1")
        assert term.proc.wait(30) == 0
    finally:
        term.close()
    lines = [ln.strip() for ln in text.splitlines()]
    prompt = next(ln for ln in lines if "customer_silence" in ln)
    assert prompt.split()[0] in ("0:09", "0:10", "0:11")
    assert prompt.endswith("Customer silent 8s — acknowledge / check in")
    assert f"Next: assist report term-1 --store {store}" in lines
    assert lines.index(f"Next: assist report term-1 --store {store}") > lines.index(prompt)


def test_demo_on_a_terminal_keeps_the_pages_up_until_ctrl_c(call_wav: Path, tmp_path: Path) -> None:
    term = OnTerminal(str(call_wav), "--speed", "8", "--port", "0", "--asr", "off", "--store",
                      str(tmp_path / "calls.sqlite3"))  # fmt: skip
    try:
        term.read_until("Ctrl-C to quit")
        time.sleep(1.0)
        assert term.proc.poll() is None  # the call is over; the pages are still served
        term.proc.send_signal(signal.SIGINT)
        assert term.proc.wait(30) == 0
    finally:
        term.close()
    assert "Next: assist report" in term.text
