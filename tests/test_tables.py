"""Every TOML table is declared once (assist/core/tables.py), so every bad key of every table
is reported the same way: `FILE: table.key: expected ..., got ...`, one line, exit code 2."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from assist.cli import main
from assist.commands.wiring import overlay_config
from assist.core.errors import ConfigError, RulePackError
from assist.core.hosts import is_loopback, split_host_port
from assist.core.pack import ChecklistConfig, Rule, RulePack
from assist.core.tables import build, check_fields, key, keys_of, values
from assist.runtime.config import read_config
from assist.runtime.packs import load_pack
from fleet.config import FleetConfig, fleet_table
from overlay.auth import OverlayConfig, Principal
from sip.config import SipConfig, load_settings
from sip.srs_config import SrsConfig, srs_table

ROOT = Path(__file__).resolve().parents[1]

RULE = """\
[pack]
name = "t"
[[rule]]
id = "quiet"
detector = "silence_after"
text = "Say something"
{extra}
[rule.params]
last_speaker = "agent"
min_s = 8.0
"""

# (table text, the key named, the value shown after "got")
BAD = {
    "sip": [
        ('[sip]\nuri = "sip:a@h"\nport = 70000\n', "sip.port", "70000"),
        ('[sip]\nuri = "sip:a@h"\ntransport = "sctp"\n', "sip.transport", "'sctp'"),
        ('[sip]\nuri = "sip:a@h"\nmedia_timeout_s = "9"\n', "sip.media_timeout_s", "'9'"),
        ('[sip]\nuri = "sip:a@h"\nstun_servers = ["a:1:2"]\n', "sip.stun_servers", "'a:1:2'"),
        ('[sip]\nuri = "sip:a@h"\nregistrar = "sip:b@@"\n', "sip.registrar", "'sip:b@@'"),
    ],
    "srs": [
        ("[srs]\nmax_sessions = 99\n", "srs.max_sessions", "99"),
        ("[srs]\nfallback_agent_stream = 3\n", "srs.fallback_agent_stream", "3"),
        ('[srs]\nagents = ["has space"]\n', "srs.agents", "'has space'"),
    ],
    "fleet": [
        ('[fleet]\nurl = "redis://r"\nheartbeat_s = 0\n', "fleet.heartbeat_s", "0.0"),
        ('[fleet]\nurl = "redis://r"\nprefix = "a b"\n', "fleet.prefix", "'a b'"),
        ('[fleet]\nurl = "redis://r"\nbacklog = "many"\n', "fleet.backlog", "'many'"),
        ('[fleet]\nurl = "http://r"\n', "fleet.url", "'http://r'"),
    ],
    "overlay": [
        ("[overlay]\nport = -1\n", "overlay.port", "-1"),
        ("[overlay]\nclient_queue = 1\n", "overlay.client_queue", "1"),
        ('[overlay]\norigins = ["ftp://x"]\n', "overlay.origins", "'ftp://x'"),
        ('[[overlay.agent]]\nname = "a"\ntoken = "short"\n', "overlay.agent[0].token", None),
    ],
    "rule": [
        ("cooldown_s = -1", "rule[quiet].cooldown_s", "-1.0"),
        ('severity = "loud"', "rule[quiet].severity", "'loud'"),
        ('priority = "high"', "rule[quiet].priority", "'high'"),
    ],
}
CASES = [(table, *case) for table, cases in BAD.items() for case in cases]


def _load(table: str, path: Path) -> None:
    """The loader each command uses for `table`."""
    if table == "sip":
        load_settings(path)
    elif table == "srs":
        srs_table(read_config(path), str(path))
    elif table == "fleet":
        fleet_table(read_config(path), str(path))
    elif table == "overlay":
        overlay_config(str(path))
    else:
        load_pack(path)


@pytest.mark.parametrize(("table", "text", "where", "got"), CASES)
def test_every_table_names_file_and_key_the_same_way(
    tmp_path: Path, table: str, text: str, where: str, got: str | None
) -> None:
    path = tmp_path / "x.toml"
    path.write_text(RULE.format(extra=text) if table == "rule" else text)
    with pytest.raises((ConfigError, RulePackError)) as err:
        _load(table, path)
    line = r":\d+" if table == "rule" else ""  # a rule pack also names the line
    shown = re.escape(got) if got is not None else r"\d+ characters \(not shown\)"
    assert re.fullmatch(
        rf"{re.escape(str(path))}{line}: {re.escape(where)}: expected [^\n]+, got {shown}"
        r"( \([^\n]+\))?",
        str(err.value),
    ), str(err.value)


@pytest.mark.parametrize(
    ("command", "text", "where"),
    [
        (["sip", "--no-server"], '[sip]\nuri = "sip:a@h"\nkeepalive_s = 1\n', "sip.keepalive_s"),
        (["sip", "--no-server"], '[sip]\nuri = "sip:a@h"\n[overlay]\nport = 1e9\n', "overlay.port"),
        (["srs", "--no-server"], "[srs]\nport = 70000\n", "srs.port"),
        (["srs", "--no-server"], "[srs]\n[overlay]\ncolour = 1\n", "overlay.colour"),
        (["console"], '[fleet]\nurl = "redis://r"\nbacklog = 1\n', "fleet.backlog"),
        (["console"], '[fleet]\nurl = "redis://r"\n[srs]\n', "srs"),
        (["console"], "[overlay]\n", "fleet"),
    ],
)
def test_each_command_says_it_in_one_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], text: str, where: str
) -> None:
    path = tmp_path / "x.toml"
    path.write_text(text)
    assert main([command[0], "--config", str(path), *command[1:]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"assist: error: {path}: {where}: "), err


def test_unknown_keys_are_refused_in_config_tables_and_ignored_in_a_packs_header(
    tmp_path: Path,
) -> None:
    for table, text in [
        ("sip", '[sip]\nuri = "sip:a@h"\nportt = 1\n'),
        ("srs", "[srs]\nportt = 1\n"),
        ("fleet", '[fleet]\nurl = "redis://r"\nportt = 1\n'),
        ("overlay", "[overlay]\nportt = 1\n"),
    ]:
        path = tmp_path / f"{table}.toml"
        path.write_text(text)
        with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: {table}\.portt: "):
            _load(table, path)
    pack = tmp_path / "pack.toml"
    pack.write_text(RULE.format(extra="").replace('name = "t"', 'name = "t"\nauthor = "me"'))
    assert load_pack(pack).name == "t"
    pack.write_text(RULE.format(extra='txt = "x"'))
    with pytest.raises(
        RulePackError, match=r"pack.toml:7: rule\[quiet\]\.txt: unknown key \(known"
    ):
        load_pack(pack)


@pytest.mark.parametrize(
    ("table", "doc"),
    [
        (SipConfig, "docs/sip.md"),
        (SrsConfig, "docs/siprec.md"),
        (FleetConfig, "docs/fleet.md"),
        (OverlayConfig, "docs/protocol.md"),
        (Principal, "docs/protocol.md docs/siprec.md"),
        (Rule, "docs/rules.md"),
        (RulePack, "docs/rules.md"),
        (ChecklistConfig, "docs/rules.md"),
    ],
)
def test_every_declared_key_is_documented(table: type, doc: str) -> None:
    text = "".join((ROOT / name).read_text(encoding="utf-8") for name in doc.split())
    missing = [
        name
        for name in keys_of(table)
        if f"`{name}`" not in text and not re.search(rf"^\s*{name}\s*=", text, re.M)
    ]
    assert missing == [], f"{doc} does not name {missing}"


# -- the schema module itself ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Demo:
    name: str = key(doc="who")
    port: int = key(80, lo=1, hi=65535, what="a port number")
    wait_s: float = key(1.0, lo=0, unit="seconds")
    secret: str = key("", secret=True)
    tags: tuple[str, ...] = key((), hi=2)

    def __post_init__(self) -> None:
        check_fields(self, "demo")


def test_types_ranges_conversions_and_secrets() -> None:
    d = build(Demo, {"name": "x", "wait_s": 2, "tags": ["a"]}, where="demo")
    assert (d.wait_s, d.tags) == (2.0, ("a",)) and isinstance(d.wait_s, float)
    bad = [
        ({"name": "x", "port": 0}, "demo.port: expected a port number from 1 to 65535, got 0"),
        ({"name": "x", "port": True}, "demo.port: expected a port number from 1 to 65535, got T"),
        ({"name": "x", "wait_s": -1}, "demo.wait_s: expected a number of seconds, at least 0"),
        ({"name": "x", "wait_s": float("nan")}, "demo.wait_s: expected a number of seconds"),
        (
            {"name": "x", "tags": ["a", "b", "c"]},
            "demo.tags: expected a list of strings, at most 2, got",
        ),
        ({"name": "x", "tags": "a"}, "demo.tags: expected a list of strings, at most 2, got 'a'"),
        ({"name": "x", "secret": 12345}, "demo.secret: expected a string, got a value of type int"),
        ({}, "demo.name: missing: expected a string (who)"),
        ({"name": "x", "nmae": 1}, "demo.nmae: unknown key (known: name, port, secret, tags"),
    ]
    for table, message in bad:
        with pytest.raises(ConfigError) as err:
            build(Demo, table, where="demo")
        assert str(err.value).startswith(message), str(err.value)
        assert "12345" not in str(err.value)
    assert values(Demo, {"name": "x", "nmae": 1}, where="demo", unknown="ignore") == {"name": "x"}


def test_a_table_made_directly_or_replaced_is_checked_the_same_way() -> None:
    with pytest.raises(ConfigError, match=r"^demo\.port: expected a port number"):
        Demo(name="x", port=0)
    with pytest.raises(ConfigError, match=r"^sip\.port: expected a port number"):
        SipConfig(uri="sip:a@h", port=-1)
    with pytest.raises(ConfigError, match=r"^fleet\.heartbeat_s: "):
        dataclasses.replace(FleetConfig(url="redis://r"), heartbeat_s=100.0)
    with pytest.raises(ConfigError, match=r"^overlay\.port: "):
        dataclasses.replace(OverlayConfig(), port=70000)
    assert Demo(name="x", wait_s=3).wait_s == 3.0  # an int for a float key is stored as float


def test_the_error_gains_its_file_once() -> None:
    err = ConfigError("expected x, got y", key="sip.port")
    assert str(err) == "sip.port: expected x, got y"
    assert str(err.in_file("a.toml")) == "a.toml: sip.port: expected x, got y"
    assert str(err.in_file("a.toml").in_file("b.toml")) == "a.toml: sip.port: expected x, got y"
    assert str(ConfigError("cannot read config", path="a.toml")) == "a.toml: cannot read config"


# -- one host parser, one loopback test ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "port", "result"),
    [
        ("pbx.example.com", True, ("pbx.example.com", None)),
        ("pbx.example.com:5070", True, ("pbx.example.com", 5070)),
        ("192.0.2.1:3478", True, ("192.0.2.1", 3478)),
        ("[2001:db8::1]:3478", True, ("2001:db8::1", 3478)),
        ("[2001:db8::1]", False, ("2001:db8::1", None)),
        ("2001:db8::1", False, ("2001:db8::1", None)),  # a bare address, when no port is taken
    ],
)
def test_hosts_that_parse(text: str, port: bool, result: tuple[str, int | None]) -> None:
    assert split_host_port(text, port=port) == result


@pytest.mark.parametrize(
    ("text", "port", "why"),
    [
        ("1.2.3.999", True, "not an IPv4 address"),
        ("2001:db8::1", True, "brackets"),
        ("a:1:2", True, "brackets"),
        ("[::1", True, "unclosed"),
        ("[::g]", True, "not an IPv6 address"),
        ("host:", True, "empty port"),
        ("host:0", True, "not a port number"),
        ("bad host", True, "not a host name"),
        ("-host", True, "not a host name"),
        ("1.2.3.4:5060", False, "not allowed"),
        ("", True, "no host"),
    ],
)
def test_hosts_that_do_not(text: str, port: bool, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        split_host_port(text, port=port)


def test_config_and_sip_uris_agree_on_hosts() -> None:
    """The [sip] table once took `1.2.3.999` as a public address and `sip:b@@` as a registrar
    that sip/uri.py then refused; both read hosts with the one parser now."""
    for text, where in [
        ('public_address = "1.2.3.999"', "sip.public_address"),
        ('stun_servers = ["1.2.3.999:3478"]', "sip.stun_servers"),
        ('registrar = "sip:pbx@1.2.3.999"', "sip.registrar"),
    ]:
        with pytest.raises(ConfigError, match=rf"^{re.escape(where)}: .*not an IPv4 address"):
            SipConfig.from_table({"uri": "sip:a@h", **_toml(text)})


def _toml(line: str) -> dict[str, object]:
    import tomllib

    return tomllib.loads(line)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("", False),
        ("pbx.example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_one_loopback_test_for_the_overlay_and_ice(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    refused = False
    try:
        SipConfig(uri="sip:a@h", ice=True, bind=host)
    except ConfigError as exc:
        refused = str(exc).startswith("sip.ice: ")
    assert refused is (loopback and bool(host))
    if host:
        plain = OverlayConfig(host=host) if loopback else None
        assert plain is None or plain.host == host
