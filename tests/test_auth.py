"""Tokens and roles, the [overlay] config table, and the Origin check."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from assist.core.errors import ConfigError
from overlay.auth import OverlayConfig, Principal, Tokens, origin_allowed

TOML = """
[overlay]
host = "127.0.0.1"
port = 9000
origins = ["https://crm.example.com/"]
[[overlay.agent]]
name = "alice"
token = "alice-token-0123456789"
[[overlay.supervisor]]
name = "sue"
token = "sue-token-0123456789ab"
sip = "sip:sue@pbx.example.com"
"""


def test_from_table_reads_every_key() -> None:
    cfg = OverlayConfig.from_table(tomllib.loads(TOML)["overlay"])
    assert (cfg.host, cfg.port, cfg.origins) == ("127.0.0.1", 9000, ("https://crm.example.com",))
    assert cfg.agents == (Principal("agent", "alice", "alice-token-0123456789"),)
    assert cfg.supervisors[0].sip == "sip:sue@pbx.example.com"
    assert cfg.with_tokens() == cfg  # configured tokens are kept, none generated


def test_defaults_bind_loopback_and_generate_tokens() -> None:
    cfg = OverlayConfig.from_table({}).with_tokens("demo-agent")
    assert cfg.host == "127.0.0.1"
    (agent,), (sup,) = cfg.agents, cfg.supervisors
    assert agent.name == "demo-agent" and len(agent.token) >= 16 and agent.token != sup.token
    assert OverlayConfig().with_tokens().agents[0].token != agent.token


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"prot": 1}, "overlay.prot"),
        ({"port": "80"}, "overlay.port"),
        ({"port": 70000}, "overlay.port"),
        ({"port": True}, "overlay.port"),
        ({"origins": "http://x"}, "overlay.origins"),
        ({"origins": ["ftp://x"]}, "overlay.origins"),
        ({"agent": {"name": "a"}}, "overlay.agent"),
        ({"agent": [{"name": "a"}]}, "overlay.agent[0].token"),
        ({"agent": [{"name": "a", "token": "short"}]}, "overlay.agent"),
        ({"agent": [{"name": "a", "token": "x" * 20, "sip": "s"}]}, "overlay.agent[0].sip"),
        (
            {
                "agent": [{"name": "a", "token": "x" * 20}],
                "supervisor": [{"name": "s", "token": "x" * 20}],
            },
            "overlay.supervisor",
        ),
        ({"client_queue": 1}, "overlay.client_queue"),
    ],
)
def test_bad_config_names_the_key(table: dict, key: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as err:
        OverlayConfig.from_table(table)
    assert str(err.value).startswith(key)


def test_tokens_map_to_principals_and_roles_limit_what_is_seen() -> None:
    cfg = OverlayConfig.from_table(tomllib.loads(TOML)["overlay"])
    tokens = Tokens((*cfg.agents, *cfg.supervisors))
    alice, sue = tokens.check("alice-token-0123456789"), tokens.check("sue-token-0123456789ab")
    assert alice is not None and sue is not None
    assert tokens.check(None) is None and tokens.check("") is None
    assert tokens.check("alice-token-012345678") is None  # a prefix is not the token
    assert alice.may_see("alice") and not alice.may_see("bob") and not alice.may_see(None)
    assert sue.may_see("bob") and sue.supervisor and not alice.supervisor
    assert "alice-token" not in repr(alice)


@pytest.mark.parametrize(
    ("origin", "ok"),
    [
        (None, True),  # not a browser
        ("http://127.0.0.1:9000", True),
        ("http://localhost:9000", True),
        ("http://[::1]:9000", True),
        ("https://crm.example.com", True),
        ("http://127.0.0.1:9001", False),  # another local page
        ("http://evil.example:9000", False),  # DNS rebinding: same port, other name
        ("https://127.0.0.1:9000", False),
        ("null", False),
        ("http://127.0.0.1:99999", False),
        ("http://evil.example.com@127.0.0.1:9000", False),  # userinfo: the host is 127.0.0.1
        ("http://127.0.0.1:9000/path", False),
        ("http://127.0.0.1:9000?q=1", False),
        ("http://127.0.0.1:9000 ", False),
        ("http://127.0.0.1:09000", False),  # a leading zero
        ("http://127.0.0.1:9000/", False),  # browsers send no trailing slash
        ("HTTP://127.0.0.1:9000", False),
    ],
)
def test_origin_check(origin: str | None, ok: bool) -> None:
    assert (
        origin_allowed(origin, port=9000, host="127.0.0.1", extra=("https://crm.example.com",))
        is ok
    )


def test_assist_demo_config_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[overlay]\nport = 8765\n[[overlay.agent]]\nname = "a"\ntoken = "short"\n')
    cmd = [sys.executable, "-m", "assist", "demo", "--fast", "--config", str(bad)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"assist: error: {bad}: overlay.agent[0].token: expected a token of at least 16 "
        "characters, got 5 characters (not shown)"
    ]
