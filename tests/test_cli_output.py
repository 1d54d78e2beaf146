"""What the commands write on stderr is the product's own: no Python warning from a library
(redis-py 8 warned about our retry policy on every `assist console`), no traceback."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import warnings
from pathlib import Path

from sip_helpers import plugin_config
from test_stopping import ctrl_c_once_ready

from assist.cli import show_warning

ROOT = Path(__file__).resolve().parents[1]

FOREIGN = re.compile(r"Warning\b|Traceback|^\s+File \"|\.py:\d+|^\s{2,}\S")
"""A Python warning (raw or our one-line form, which names the category), a traceback, or the
indented source line Python prints under a warning."""


def foreign_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if FOREIGN.search(line)]


def assist(*args: str, env_db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assist", *args],
        cwd=ROOT,
        env={**_env(), "ASSIST_DB": str(env_db)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _env() -> dict[str, str]:
    """The user's environment, without a PYTHONWARNINGS that would hide or add warnings."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}


def test_a_library_warning_is_one_line_naming_the_library(capsys: object) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        old = warnings.showwarning
        warnings.showwarning = show_warning
        try:
            warnings.warn_explicit(
                "A synchronous Retry was passed\nsecond line",
                UserWarning,
                "/x/lib/python3.11/site-packages/redis/asyncio/connection.py",
                3126,
            )
        finally:
            warnings.showwarning = old
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert err == "assist: warning: redis (UserWarning): A synchronous Retry was passed\n"
    assert foreign_lines(err) == [err.strip()]


def test_demo_models_calls_and_report_write_only_our_lines(tmp_path: Path) -> None:
    db = tmp_path / "calls.sqlite3"
    demo = assist("demo", "--fast", "--port", "0", "--call-id", "c-out", env_db=db)
    assert demo.returncode == 0, demo.stderr
    assert "Stored call c-out" in demo.stderr
    runs = [
        demo,
        assist("models", env_db=db),
        assist("calls", env_db=db),
        assist("report", "c-out", "-o", str(tmp_path / "r.html"), env_db=db),
        assist("demo", str(tmp_path / "missing.wav"), "--fast", env_db=db),
    ]
    assert runs[-1].returncode == 2
    for run in runs:
        assert foreign_lines(run.stderr) == [], (run.args, run.stderr)


def test_console_and_a_publishing_plugin_write_only_our_lines(tmp_path: Path) -> None:
    """Both asyncio Redis clients (the plugin's publisher, the console's reader) are made."""
    from fleet.acl import console_rules, plugin_rules, setuser
    from tests.redis_helpers import RedisServer

    redis = RedisServer(tmp_path / "redis").start()
    try:
        redis.acl(
            [
                setuser("console", console_rules("assist", "console-pw-0123")),
                setuser("alice", plugin_rules("assist", "alice", "alice-pw-0123")),
            ]
        )
        plugin = tmp_path / "alice.toml"
        plugin.write_text(
            f'[fleet]\nurl = "{redis.url}"\nusername = "alice"\npassword = "alice-pw-0123"\n'
            'agent = "alice"\n'
        )
        demo = assist(
            "demo",
            "--fast",
            "--no-server",
            "--asr",
            "off",
            "--config",
            str(plugin),
            env_db=tmp_path / "c.sqlite3",
        )
        assert demo.returncode == 0, demo.stderr
        assert foreign_lines(demo.stderr) == [], demo.stderr
        console = tmp_path / "console.toml"
        console.write_text(
            f'[fleet]\nurl = "{redis.url}"\nusername = "console"\npassword = "console-pw-0123"\n'
            '[overlay]\nport = 0\n[[overlay.supervisor]]\nname = "sue"\n'
            'token = "floor-supervisor-token-0123456789"\n'
        )
        code, err = ctrl_c_once_ready(["console", "--config", str(console)], "Supervisor:")
    finally:
        redis.stop()
    assert code == 130, err
    assert foreign_lines(err) == [], err


def test_sip_writes_only_our_lines(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        rtp_port = max(int(s.getsockname()[1]) & ~1, 1024)  # pjsua's RTP base: even
    cfg = plugin_config(tmp_path / "assist.toml", rtp_port=rtp_port)
    args = ["sip", "--config", str(cfg), "--port", "0", "--asr", "off"]
    code, err = ctrl_c_once_ready([*args, "--store", str(tmp_path / "c.sqlite3")], "listening on")
    assert code == 130, err
    assert foreign_lines(err) == [], err


def test_srs_writes_only_our_lines_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """The recording server, started with SIGINT ignored (as in a script), stops on Ctrl-C."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        rtp_port = max(int(s.getsockname()[1]) & ~1, 1024)
    cfg = tmp_path / "srs.toml"
    cfg.write_text(f'[srs]\nbind = "127.0.0.1"\nport = 0\nrtp_port = {rtp_port}\n')
    args = ["srs", "--config", str(cfg), "--port", "0", "--asr", "off"]
    code, err = ctrl_c_once_ready([*args, "--store", str(tmp_path / "c.sqlite3")], "listening on")
    assert code == 130, err
    assert foreign_lines(err) == [], err
