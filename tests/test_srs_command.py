"""`assist srs` without a network: the `[srs]` table checked key by key, agent tokens bound to
AoRs (`[[overlay.agent]] aors`) naming the recorded call's agent, call control that says what
SIPREC cannot do, and a bad config a one-line error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from assist.commands.srs import UNASSIGNED, SrsControl, agent_for, recording_event
from assist.core.errors import ConfigError
from assist.runtime.control import ControlError
from overlay.auth import OverlayConfig
from sip.siprec import AgentChoice
from sip.srs_config import SrsConfig, srs_table

ROOT = Path(__file__).resolve().parents[1]


def overlay() -> OverlayConfig:
    return OverlayConfig.from_table(
        {
            "agent": [
                {"name": "alice", "token": "a" * 20, "aors": ["sip:1001@pbx.example.com"]},
                {"name": "bob", "token": "b" * 20, "aors": ["20*"]},
                {"name": "carol", "token": "c" * 20},
            ]
        }
    )


def test_the_agent_is_the_token_bound_to_a_participants_aor() -> None:
    cfg = overlay()
    assert agent_for(cfg, ["sip:1001@pbx.example.com;transport=tcp", "tel:+1555"]) == "alice"
    assert agent_for(cfg, ["sip:2002@pbx.example.com"]) == "bob"
    assert agent_for(cfg, ["", "sip:2002@pbx"]) == "bob"  # a participant, not the agent stream
    assert agent_for(cfg, ["sip:3003@pbx.example.com"]) == UNASSIGNED  # supervisors only
    assert agent_for(cfg, []) == UNASSIGNED


def test_aors_are_checked_and_only_for_agents() -> None:
    with pytest.raises(ConfigError, match=r"overlay.agent\[0\].aors"):
        OverlayConfig.from_table({"agent": [{"name": "a", "token": "t" * 20, "aors": "1001"}]})
    with pytest.raises(ConfigError, match=r"supervisor\[0\].aors: unknown key"):
        OverlayConfig.from_table({"supervisor": [{"name": "s", "token": "t" * 20, "aors": ["1*"]}]})


def test_whisper_and_barge_say_why_not() -> None:
    control = SrsControl()
    assert control.telephony is False
    for mode in ("listen", "whisper", "barge"):
        with pytest.raises(ControlError, match="not available on a recorded \\(SIPREC\\) call"):
            control.supervise("srs-1", mode, "sip:sue@pbx", "sue")  # type: ignore[arg-type]
    assert "no supervisor" in control.supervise("srs-1", "off", "", "sue")
    with pytest.raises(ControlError):
        control.hangup("srs-1")


def test_listen_and_off_go_to_the_recording_server_whisper_and_barge_never() -> None:
    asked: list[tuple[str, str, str, str]] = []

    class Server:  # what SrsControl needs of sip.recorder.RecordingServer
        def supervise(self, call_id: str, mode: str, supervisor: str, name: str) -> str:
            asked.append((call_id, mode, supervisor, name))
            return f"{call_id}: {mode}"

    control = SrsControl(Server())  # type: ignore[arg-type]
    assert control.supervise("srs-1", "listen", "sip:sue@pbx", "sue") == "srs-1: listen"
    assert control.supervise("srs-1", "off", "sip:sue@pbx", "sue") == "srs-1: off"
    for mode in ("whisper", "barge"):
        with pytest.raises(ControlError, match="no leg into the call \\(listen works\\)"):
            control.supervise("srs-1", mode, "sip:sue@pbx", "sue")  # type: ignore[arg-type]
    assert [a[1] for a in asked] == ["listen", "off"]


def test_the_recording_event_says_how_the_agent_was_chosen() -> None:
    from sip.recorder import SessionInfo

    info = SessionInfo(
        call_id="srs-1",
        remote="sip:sbc@x",
        choice=AgentChoice(agent=1, fallback="no recording metadata"),
    )
    ev = recording_event(info)
    assert ev.by == "stream_order" and ev.note == "no recording metadata" and not ev.update


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ({"port": 70000}, "srs.port"),
        ({"transport": "sctp"}, "srs.transport"),
        ({"max_sessions": 0}, "srs.max_sessions"),
        ({"max_sessions": 31}, "srs.max_sessions"),
        ({"sessions_per_s": 7}, "srs.sessions_per_s: expected a number of new sessions per"),
        ({"sessions_per_s": 0}, "srs.sessions_per_s"),
        ({"agents": ["ok", "has space"]}, "srs.agents"),
        ({"agents": "1*"}, "srs.agents: expected a list"),
        ({"fallback_agent_stream": 3}, "srs.fallback_agent_stream"),
        ({"tls_cert": "/nonexistent.pem"}, "srs.tls_cert"),
        ({"transport": "tls"}, "srs.tls_cert: required"),
        ({"agent": ["1*"]}, "srs.agent: unknown key"),
    ],
)
def test_bad_srs_keys_are_named(table: dict[str, object], says: str) -> None:
    with pytest.raises(ConfigError, match=says.replace(".", r"\.")):
        SrsConfig.from_table(table)


def test_defaults_and_unknown_tables() -> None:
    cfg = srs_table({}, "x.toml")
    assert (cfg.port, cfg.transport, cfg.max_sessions, cfg.fallback_agent_stream) == (
        5060,
        "udp+tcp",
        4,
        2,
    )
    assert cfg.sessions_per_s == 6
    with pytest.raises(ConfigError, match="x.toml: sip: unknown table"):
        srs_table({"sip": {}}, "x.toml")


def test_a_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "srs.toml"
    cfg.write_text("[srs]\nmax_sessions = 99\n")
    r = subprocess.run(
        [sys.executable, "-m", "assist", "srs", "--config", str(cfg)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        f"assist: error: {cfg}: srs.max_sessions: expected an integer from 1 to 30, got 99"
    ]


def test_each_recording_server_has_its_own_floor_name() -> None:
    """Without `[fleet] agent`, the floor name is per server (host and SIP port, or the pid for
    an OS-chosen port), never an overlay agent's: servers with one config never share one."""
    from assist.commands.srs import floor_name
    from fleet.config import FleetConfig

    assert floor_name(5060, "rec1.example.com") == "srs-rec1.example.com-5060"
    assert floor_name(5060, "rec1") != floor_name(5062, "rec1")
    assert floor_name(0, "rec1", pid=42) == "srs-rec1-pid42"
    assert floor_name(5060, "odd host/name") == "srs-odd-host-name-5060"
    FleetConfig.from_table({"url": "redis://h:6379/0", "agent": floor_name(5060, "x" * 200)})
