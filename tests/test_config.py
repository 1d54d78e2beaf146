"""The softphone's TOML config: every bad key is named, in one line, with exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from assist.cli import main
from assist.core.errors import ConfigError
from sip.config import DEFAULT_RTP_PORT, SipConfig, load_settings

GOOD = """\
[sip]
uri = "sip:alice@pbx.example.com"
registrar = "sip:pbx.example.com"
username = "alice"
password = "secret"
transport = "tcp"
port = 5070
media_timeout_s = 15
auto_answer = false

[overlay]
port = 8800
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "assist.toml"
    p.write_text(text)
    return p


def test_good_config_loads_with_defaults_for_the_rest(tmp_path: Path) -> None:
    s = load_settings(_write(tmp_path, GOOD))
    assert s.sip.uri == "sip:alice@pbx.example.com"
    assert s.sip.transport == "tcp" and s.sip.port == 5070 and s.sip.auto_answer is False
    assert s.sip.media_timeout_s == 15.0 and s.sip.audio == "null"
    assert s.sip.rtp_port == DEFAULT_RTP_PORT
    assert s.overlay == {"port": 8800}
    assert "secret" not in repr(s.sip)  # the password never reaches a log line


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[sip]\nuri = "alice@host"\n', "sip.uri"),
        ("[sip]\nport = 5060\n", "sip.uri"),
        ('[sip]\nuri = "sip:a@h"\nport = 70000\n', "sip.port"),
        ('[sip]\nuri = "sip:a@h"\nport = "5060"\n', "sip.port"),
        ('[sip]\nuri = "sip:a@h"\ntransport = "sctp"\n', "sip.transport"),
        ('[sip]\nuri = "sip:a@h"\naudio = "hdmi"\n', "sip.audio"),
        ('[sip]\nuri = "sip:a@h"\naudio = "default"\n', "sip.audio"),
        ('[sip]\nuri = "sip:a@h"\nring_timeout_s = 0\n', "sip.ring_timeout_s"),
        ('[sip]\nuri = "sip:a@h"\nring_timeout_s = "60"\n', "sip.ring_timeout_s"),
        ('[sip]\nuri = "sip:a@h"\nregister_expires_s = 10\n', "sip.register_expires_s"),
        ('[sip]\nuri = "sip:a@h"\nregister_expires_s = 60.5\n', "sip.register_expires_s"),
        ('[sip]\nuri = "sip:a@h"\nkeepalive_s = 1\n', "sip.keepalive_s"),
        ('[sip]\nuri = "sip:a@h"\nauto_answer = "yes"\n', "sip.auto_answer"),
        ('[sip]\nuri = "sip:a@h"\nmedia_timeout_s = 0\n', "sip.media_timeout_s"),
        ('[sip]\nuri = "sip:a@h"\nregistrar = "pbx"\n', "sip.registrar"),
        ('[sip]\nuri = "sip:a@h"\npassword = "x"\n', "sip.username"),
        ('[sip]\nuri = "sip:a@h"\nagent_play = "/nonexistent.wav"\n', "sip.agent_play"),
        ('[sip]\nuri = "sip:a@h"\nrtp_port = 80\n', "sip.rtp_port"),
        ('[sip]\nuri = "sip:a@h"\nregistrar = "sip:h;transport=tcp"\n', "sip.registrar"),
        ('[sip]\nuri = "sip:a@h"\nregistar = "sip:x"\n', "sip.registar"),
        ('[sip]\nuri = "sip:a@h"\n[sipp]\n', "sipp"),
        ("[overlay]\nport = 1\n", "sip"),
        ('[sip]\nuri = "sip:a@h"\noverlay = 3\n', "sip.overlay"),
        ('[sip]\nuri = "sip:a@h"\npublic_address = "1.2.3.4:5060"\n', "sip.public_address"),
        ('[sip]\nuri = "sip:a@h"\npublic_address = "bad host"\n', "sip.public_address"),
        ('[sip]\nuri = "sip:a@h"\npublic_address = 1\n', "sip.public_address"),
        ('[sip]\nuri = "sip:a@h"\nstun_servers = "stun.example.com"\n', "sip.stun_servers"),
        ('[sip]\nuri = "sip:a@h"\nstun_servers = ["stun:3478x"]\n', "sip.stun_servers"),
        ('[sip]\nuri = "sip:a@h"\nstun_servers = ["a:1:2"]\n', "sip.stun_servers"),
        ('[sip]\nuri = "sip:a@h"\nstun_servers = [3478]\n', "sip.stun_servers"),
        ('[sip]\nuri = "sip:a@h"\nstun_servers = ["[::1"]\n', "sip.stun_servers"),
        ('[sip]\nuri = "sip:a@h"\nice = "yes"\n', "sip.ice"),
        ('[sip]\nuri = "sip:a@h"\nice = true\nbind = "127.0.0.1"\n', "sip.ice"),
    ],
)
def test_bad_key_is_named(tmp_path: Path, text: str, key: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert str(err.value).startswith(f"{path}: {key}: ")


def test_nat_keys_load(tmp_path: Path) -> None:
    text = (
        '[sip]\nuri = "sip:a@h"\npublic_address = "203.0.113.7"\nice = true\n'
        'stun_servers = ["stun.example.com:3478", "192.0.2.1", "[2001:db8::1]:3478"]\n'
    )
    s = load_settings(_write(tmp_path, text)).sip
    assert s.public_address == "203.0.113.7" and s.ice is True
    assert s.stun_servers == ("stun.example.com:3478", "192.0.2.1", "[2001:db8::1]:3478")
    assert SipConfig(uri="sip:a@h", public_address="[2001:db8::7]").public_address


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings(_write(tmp_path, "[sip\n"))
    with pytest.raises(ConfigError, match="cannot read config"):
        load_settings(tmp_path / "nope.toml")


def test_dataclass_validates_direct_construction() -> None:
    with pytest.raises(ConfigError, match="^sip.port: "):
        SipConfig(uri="sip:a@h", port=-1)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[sip]\nuri = "sip:a@h"\nport = 99999\n', "sip.port"),
        ('[sip]\nuri = "sip:a@h"\n[overlay]\nport = 99999\n', "overlay.port"),
        ('[sip]\nuri = "sip:a@h"\n[overlay]\ncolour = "red"\n', "overlay.colour"),
    ],
)
def test_assist_sip_reports_a_bad_key_in_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str
) -> None:
    path = _write(tmp_path, text)
    assert main(["sip", "--config", str(path), "--no-server"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"assist: error: {path}: {key}: "), err
