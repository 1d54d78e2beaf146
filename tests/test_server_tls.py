"""The overlay beyond loopback (issue 11, point 7): https/wss with a configured certificate,
no plain http past loopback unless --insecure, no empty host, and `dial` as a permission.

The certificate is a throwaway self-signed one made with the openssl command line."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from assist.core.errors import ConfigError
from assist.runtime.control import CallRegistry, DemoControl
from overlay.auth import OverlayConfig, Principal
from overlay.server import OverlayServer

AGENT = Principal("agent", "alice", "alice-token-0123456789")
DIALLER = Principal("agent", "bob", "bob-token-0123456789ab", dial=True)


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    crt, key = d / "overlay.crt", d / "overlay.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
        + ["-keyout", str(key), "-out", str(crt), "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return crt, key


@pytest.fixture
def tls_server(cert: tuple[Path, Path]) -> Iterator[OverlayServer]:
    crt, key = cert
    cfg = OverlayConfig(port=0, tls_cert=str(crt), tls_key=str(key), agents=(AGENT, DIALLER))
    srv = OverlayServer(config=cfg, registry=CallRegistry(), control=DemoControl()).start()
    yield srv
    srv.stop()


def client_ctx(cert: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert[0]))


def get(url: str, cert: tuple[Path, Path]) -> tuple[int, bytes, str]:
    with urllib.request.urlopen(url, context=client_ctx(cert)) as r:
        return r.status, r.read(), r.headers["Content-Security-Policy"]


async def test_tls_serves_https_pages_and_wss_and_checks_https_origins(
    tls_server: OverlayServer, cert: tuple[Path, Path]
) -> None:
    assert tls_server.url.startswith("https://127.0.0.1:")
    status, body, csp = await asyncio.to_thread(get, tls_server.url, cert)
    assert status == 200 and b"<title>" in body and csp
    port = tls_server.port
    url = f"wss://127.0.0.1:{port}/ws?token={AGENT.token}"
    own = f"https://127.0.0.1:{port}"
    async with connect(url, ssl=client_ctx(cert), origin=own) as ws:  # type: ignore[arg-type]
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello" and hello["name"] == "alice"
    with pytest.raises(InvalidStatus) as err:  # the plain-http page of the same host is foreign
        async with connect(url, ssl=client_ctx(cert), origin=f"http://127.0.0.1:{port}"):  # type: ignore[arg-type]
            pass
    assert err.value.response.status_code == 403
    with pytest.raises(Exception):  # noqa: B017  (no plain websocket on a TLS port)
        async with connect(f"ws://127.0.0.1:{port}/ws?token={AGENT.token}", open_timeout=5):
            pass


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "pbx.example.com"])
def test_binding_beyond_loopback_needs_tls_or_insecure(host: str, cert: tuple[Path, Path]) -> None:
    with pytest.raises(ConfigError) as err:
        OverlayConfig(host=host)
    assert str(err.value).startswith("overlay.host:") and "--insecure" in str(err.value)
    OverlayConfig(host=host, insecure=True)
    OverlayConfig(host=host, tls_cert=str(cert[0]), tls_key=str(cert[1]))
    for loopback in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        OverlayConfig(host=loopback)


@pytest.mark.parametrize("table", [{"host": ""}, {"host": "  "}, {"tls_cert": "x.pem"}])
def test_empty_host_and_half_tls_are_refused(table: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as err:
        OverlayConfig.from_table(table)
    assert str(err.value).startswith(("overlay.host: ", "overlay.tls_key: required with"))


def test_a_server_beyond_loopback_with_tls_serves_https(cert: tuple[Path, Path]) -> None:
    crt, key = cert
    with pytest.raises(ConfigError):
        OverlayServer(host="0.0.0.0", port=0)
    cfg = OverlayConfig(host="0.0.0.0", port=0, tls_cert=str(crt), tls_key=str(key))
    srv = OverlayServer(config=cfg).start()
    try:
        assert get(f"https://127.0.0.1:{srv.port}/", cert)[0] == 200
    finally:
        srv.stop()


def _demo(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "assist", "demo", "--fast", "--asr", "off", "--port", "0"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120)


def test_assist_demo_refuses_plain_http_beyond_loopback_in_one_line(tmp_path: Path) -> None:
    r = _demo("--host", "0.0.0.0")
    assert r.returncode == 2
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("assist: error: overlay.host: 0.0.0.0 is beyond loopback")
    assert "--insecure" in line
    r = _demo("--host", "")
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "assist: error: overlay.host: expected an address like \"127.0.0.1\", got ''"
    ]
    r = _demo("--tls-cert", str(tmp_path / "missing.crt"), "--tls-key", str(tmp_path / "k"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "overlay.tls_cert: expected an existing PEM file" in r.stderr
    assert "missing.crt' (no such file)" in r.stderr


def test_assist_demo_serves_https_beyond_loopback_with_a_certificate(
    cert: tuple[Path, Path],
) -> None:
    r = _demo("--host", "0.0.0.0", "--tls-cert", str(cert[0]), "--tls-key", str(cert[1]))
    assert r.returncode == 0, r.stderr
    assert "Overlay: https://0.0.0.0:" in r.stderr
    r = _demo("--host", "0.0.0.0", "--insecure")
    assert r.returncode == 0, r.stderr
    assert "Overlay: http://0.0.0.0:" in r.stderr


async def test_dial_is_a_configured_permission(tls_server: OverlayServer, cert: tuple) -> None:  # type: ignore[type-arg]
    dial = json.dumps({"type": "dial", "id": "d", "uri": "sip:carol@127.0.0.1"})
    base = f"wss://127.0.0.1:{tls_server.port}/ws?token="
    async with connect(base + AGENT.token, ssl=client_ctx(cert)) as ws:
        assert json.loads(await ws.recv())["dial"] is False
        await ws.send(dial)
        err = json.loads(await ws.recv())
        assert err["code"] == "forbidden" and err["id"] == "d"
    async with connect(base + DIALLER.token, ssl=client_ctx(cert)) as ws:
        assert json.loads(await ws.recv())["dial"] is True
        await ws.send(dial)
        err = json.loads(await ws.recv())  # allowed through to call control (demo: no phone)
        assert err["code"] == "control_failed" and "demo mode" in err["error"]


def test_dial_key_in_the_config_table() -> None:
    rows = [{"name": "a", "token": "a" * 20, "dial": True}, {"name": "b", "token": "b" * 20}]
    cfg = OverlayConfig.from_table({"agent": rows})
    assert [p.dial for p in cfg.agents] == [True, False]
    with pytest.raises(ConfigError) as err:
        OverlayConfig.from_table({"agent": [{"name": "a", "token": "a" * 20, "dial": "yes"}]})
    assert str(err.value).startswith("overlay.agent[0].dial")
    generated = OverlayConfig().with_tokens()
    assert generated.agents[0].dial and not generated.supervisors[0].dial
