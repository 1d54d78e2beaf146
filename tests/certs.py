"""Certificates made at test time with openssl: a test CA and a certificate for 127.0.0.1."""

from __future__ import annotations

import subprocess
from pathlib import Path


def make_certs(folder: Path) -> dict[str, Path]:
    """A test CA and a certificate for 127.0.0.1 (IP SAN) signed by it, with openssl."""
    folder.mkdir(parents=True, exist_ok=True)

    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    ssl(
        *("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem"),
        *("-days", "1", "-subj", "/CN=softphone-assist test CA"),
    )
    ssl(
        *("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "req.csr"),
        *("-subj", "/CN=127.0.0.1"),
    )
    (folder / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
    )
    ssl(
        *("x509", "-req", "-in", "req.csr", "-CA", "ca.pem", "-CAkey", "ca.key"),
        *("-CAcreateserial", "-out", "cert.pem", "-days", "1", "-extfile", "ext.cnf"),
    )
    both = folder / "both.pem"  # baresip wants certificate and key in one file
    both.write_text((folder / "cert.pem").read_text() + (folder / "key.pem").read_text())
    return {k: folder / f"{k}.pem" for k in ("ca", "cert", "key", "both")}
