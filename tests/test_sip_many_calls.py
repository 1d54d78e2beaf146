"""A phone that runs for months keeps nothing per finished call: sipp (Debian's sip-tester,
its built-in UAC) makes 20 calls one after the other to `assist sip` (default settings: store
on), and the command's own bookkeeping (`CallBook`: closer threads, call outcomes) stays at
a call or two all along. The command runs in a child process (one pjsua2 Endpoint per
process) with `CallBook` watched by a subclass that records its sizes after every change."""

from __future__ import annotations

import ast
import sys
import textwrap
from pathlib import Path

import pytest

from tests.ports import free_udp_port
from tests.sip_helpers import Proc, plugin_config, stored_calls

CALLS = 20

SCRIPT = textwrap.dedent(
    """
    import sys
    import assist.commands.sip as cmd
    from assist.cli import main

    peak = {"closers": 0, "outcomes": 0, "closed": 0}

    class Watched(cmd.CallBook):
        def closing(self, t):
            super().closing(t)
            peak["closed"] += 1
            peak["closers"] = max(peak["closers"], len(self.closers))

        def ended(self, call_id, reason, outcome):
            super().ended(call_id, reason, outcome)
            peak["outcomes"] = max(peak["outcomes"], len(self.outcomes))

    cmd.CallBook = Watched
    code = main(sys.argv[1:])
    print("peak", peak, flush=True)
    sys.exit(code)
    """
)


@pytest.mark.timeout(120)
def test_many_sequential_calls_keep_the_bookkeeping_bounded(tmp_path: Path) -> None:
    port = free_udp_port()
    cfg = plugin_config(tmp_path / "assist.toml", port=port)
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    plugin = Proc([sys.executable, str(script), "sip", "--config", str(cfg), "--no-server"])
    uac = None
    try:
        plugin.wait_for(rf"listening on udp port {port}", timeout=30)
        uac = Proc(
            ["/usr/bin/sipp", "-sn", "uac", "-i", "127.0.0.1", f"127.0.0.1:{port}"]
            + ["-s", "agent", "-m", str(CALLS), "-l", "1", "-r", "4", "-d", "300"]
            + ["-nostdin", "-timeout", "90s", "-timeout_error"],
            cwd=tmp_path,
        )
        assert uac.p.wait(90) == 0, uac.text
        assert plugin.stop() == 0, plugin.text
    finally:
        plugin.kill()
        if uac is not None:
            uac.kill()
    assert "Traceback" not in plugin.text and "Assertion" not in plugin.text, plugin.text
    assert plugin.text.count(": ended (") == CALLS, plugin.text
    _, m = plugin.wait_for(r"peak (\{.*\})")
    peak = ast.literal_eval(m[1])
    assert peak["closed"] == CALLS
    assert peak["closers"] <= 3, peak  # the calls still finishing, not every call ever made
    assert peak["outcomes"] == 0, peak  # `assist sip` (not `sip call`) keeps no outcomes
    assert len(stored_calls()) == CALLS
