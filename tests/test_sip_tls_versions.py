"""Which TLS versions and cipher suites the softphone really negotiates (pjsua2-python's bundled
OpenSSL 1.0.2k): a TLS server on 127.0.0.1 (Python's ssl module: the system's OpenSSL 3, which
reports the negotiated version and the client's offer) limited to one protocol version, and
`assist sip` registering to it over TLS. TLS 1.2 works, with a forward-secret AES-GCM suite;
1.0 and 1.1 are refused by the softphone (the wheel would speak them: sip/endpoint.py limits
it); 1.3 is beyond OpenSSL 1.0.2."""

from __future__ import annotations

import socket
import ssl
import warnings
from pathlib import Path

import pytest

from tests.certs import make_certs
from tests.sip_helpers import assist, plugin_config

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # asking for the old versions on purpose
    VERSIONS = {
        "1.0": ssl.TLSVersion.TLSv1,
        "1.1": ssl.TLSVersion.TLSv1_1,
        "1.2": ssl.TLSVersion.TLSv1_2,
        "1.3": ssl.TLSVersion.TLSv1_3,
    }


def _handshake(tmp_path: Path, certs: dict[str, Path], version: str) -> dict:
    """One handshake of the softphone's REGISTER connection with a server that speaks only
    `version`: what was negotiated, or why not."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs["cert"], certs["key"])
    ctx.set_ciphers("ALL:@SECLEVEL=0")  # let the client's offer decide, even for TLS 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ctx.maximum_version = VERSIONS[version]
    got: dict = {}
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(20)
        port = server.getsockname()[1]
        cfg = plugin_config(
            tmp_path / f"tls{version}.toml",
            transport="tls",
            registrar=f"sip:127.0.0.1:{port};transport=tls",
            tls_ca=str(certs["ca"]),
        )
        plugin = assist("sip", "--config", str(cfg), "--no-server", "--asr", "off")
        try:
            conn, _ = server.accept()
            conn.settimeout(10)
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    got["version"] = tls.version()
                    got["cipher"] = tls.cipher()[0]  # type: ignore[index]
                    got["offered"] = sorted(c[0] for c in tls.shared_ciphers() or [])
            except (ssl.SSLError, OSError) as exc:
                got["error"] = str(exc)
        finally:
            plugin.stop()
    assert "Traceback" not in plugin.text and "Assertion" not in plugin.text, plugin.text
    return got


@pytest.mark.timeout(120)
def test_the_softphone_negotiates_tls_1_2_only(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    results = {v: _handshake(tmp_path, certs, v) for v in ("1.0", "1.1", "1.2", "1.3")}
    print(results)
    good = results["1.2"]
    assert good.get("version") == "TLSv1.2", results
    assert good["cipher"].startswith("ECDHE-") and "GCM" in good["cipher"], good
    for weak in ("RC4", "DES-CBC3", "NULL", "EXP", "MD5"):
        assert not [c for c in good["offered"] if weak in c], good["offered"]
    for old in ("1.0", "1.1", "1.3"):
        assert "error" in results[old], results  # no handshake at that version
