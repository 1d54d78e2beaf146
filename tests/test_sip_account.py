"""sip/account.py's pure parts: which closed TLS connections may be the registrar's (only
those make the phone register again and warn)."""

from __future__ import annotations

import pytest

from sip.account import _may_be


@pytest.mark.parametrize(
    ("remote", "registrar", "may"),
    [
        ("127.0.0.1:5061", "sip:127.0.0.1:5061;transport=tls", True),
        ("127.0.0.1:40000", "sip:127.0.0.1:5061;transport=tls", False),  # a peer's connection
        ("10.0.0.1:5061", "sip:127.0.0.1:5061;transport=tls", False),
        ("127.0.0.1:40000", "sip:127.0.0.1;transport=tls", True),  # no port named: any
        ("[::1]:5061", "sip:[::1]:5061;transport=tls", True),
        ("[::1]:5062", "sip:[::1]:5061;transport=tls", False),
        ("192.0.2.9:5061", "sips:pbx.example.com", True),  # a name: cannot tell without DNS
    ],
)
def test_which_connection_may_be_the_registrars(remote: str, registrar: str, may: bool) -> None:
    assert _may_be(remote, registrar) is may
