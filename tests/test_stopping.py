"""Ctrl-C and SIGTERM reach the long-running commands even when SIGINT came ignored."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from sip_helpers import plugin_config

from assist.commands.stopping import StopSignals

ROOT = Path(__file__).resolve().parents[1]


def test_sigint_and_sigterm_set_the_event_and_the_old_handlers_come_back() -> None:
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in a background job
    try:
        with StopSignals() as s:
            os.kill(os.getpid(), signal.SIGINT)
            assert s.event.wait(5) and s.interrupted
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        term_before = signal.getsignal(signal.SIGTERM)
        with StopSignals() as s:
            os.kill(os.getpid(), signal.SIGTERM)
            assert s.event.wait(5) and not s.interrupted
        assert signal.getsignal(signal.SIGTERM) == term_before
    finally:
        signal.signal(signal.SIGINT, before)


SIGNALS_WHILE_WAITING = textwrap.dedent(
    """
    import os, signal, threading
    from assist.commands.stopping import StopSignals
    s = StopSignals().install()
    for _ in range(300):
        threading.Timer(0.0005, os.kill, (os.getpid(), signal.SIGTERM)).start()
        while not s.event.wait(0):  # the main thread in and out of the event's lock
            pass
        s.event.clear()
    s.restore()
    print("all 300 seen")
    """
)


def test_a_signal_landing_inside_the_main_threads_own_wait_does_not_hang_it() -> None:
    """A handler that set the event itself hung for ever when it ran while the main thread held
    the event's lock (a lingering `assist demo` once ignored Ctrl-C that way, in CI)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SIGNALS_WHILE_WAITING],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()  # SIGTERM is what it handles; a hung one ignores it
        proc.communicate()
        raise AssertionError("a signal during the main thread's wait hung it") from None
    assert proc.returncode == 0 and "all 300 seen" in out, err


IGNORING_SIGINT = textwrap.dedent(
    """
    import signal, sys
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what `assist sip ... &` in a script inherits
    from assist.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def ctrl_c_once_ready(args: list[str], ready: str) -> tuple[int, str]:
    """Start `assist ARGS` with SIGINT ignored, send SIGINT once stderr shows `ready`; return
    the exit code and everything it wrote on stderr."""
    proc = subprocess.Popen(
        [sys.executable, "-c", IGNORING_SIGINT, *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        seen = ""
        while ready not in seen:
            line = proc.stderr.readline()
            assert line, f"assist {args[0]} exited: {seen}"
            seen += line
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
        return code, seen + proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_ctrl_c_ends_assist_sip_started_in_the_background(tmp_path: Path) -> None:
    cfg = plugin_config(tmp_path / "assist.toml")
    args = ["sip", "--config", str(cfg), "--no-server", "--asr", "off"]
    code, err = ctrl_c_once_ready([*args, "--store", str(tmp_path / "c.sqlite3")], "listening on")
    assert code == 130, err
    assert "Traceback" not in err and "Assertion" not in err, err


def test_ctrl_c_ends_assist_console_started_in_the_background(tmp_path: Path) -> None:
    from fleet.acl import console_rules, setuser
    from tests.redis_helpers import RedisServer

    redis = RedisServer(tmp_path / "redis").start()
    try:
        redis.acl([setuser("console", console_rules("assist", "console-pw-0123"))])
        cfg = tmp_path / "console.toml"
        cfg.write_text(
            f'[fleet]\nurl = "{redis.url}"\nusername = "console"\npassword = "console-pw-0123"\n'
            '[overlay]\nport = 0\n[[overlay.supervisor]]\nname = "sue"\n'
            'token = "floor-supervisor-token-0123456789"\n'
        )
        code, err = ctrl_c_once_ready(["console", "--config", str(cfg)], "Supervisor:")
    finally:
        redis.stop()
    assert code == 130, err
    assert "Traceback" not in err, err
