"""URIs are checked before pjsua2 sees them: each bad one here once aborted the whole process
(pjsua_call_get_info: Assertion 'call_id>=0'), taking every live call down."""

from __future__ import annotations

import pytest

from sip.uri import UriError, check_uri, dial_uri

BAD = [
    ("sip:bob@@", "more than one @"),
    ("sip:bob@", "no host"),
    ("sip:@host", "empty user"),
    ("bob@host", "not a SIP URI"),
    ("tel:+123", "not a SIP URI"),
    ("sip:", "no host"),
    ("", "empty"),
    ("sip:bob@host:0", "port"),
    ("sip:bob@host:99999", "port"),
    ("sip:bob@host:", "empty port"),
    ("sip:bob@ho st", "spaces"),
    ("sip:bob@host\r\nVia: x", "control"),
    ("sip:bób@host", "non-ASCII"),
    ("sip:bob:secret@host", "password"),
    ("sip:bob@host?Subject=x", "headers"),
    ("sip:bob@1.2.3.999", "IPv4"),
    ("sip:bob@::1", "brackets"),
    ("sip:bob@[::g]", "IPv6"),
    ("sip:bob@[::1", "unclosed"),
    ("sip:bob@-host", "host name"),
    ("sip:bob@host;transport=sctp", "transport=sctp"),
    ("sip:bob@host;=x", "parameter"),
    ("sip:" + "a" * 300 + "@host", "longer than"),
]


@pytest.mark.parametrize(("uri", "why"), BAD)
def test_bad_uris_are_one_line_errors(uri: str, why: str) -> None:
    with pytest.raises(UriError, match=why) as err:
        dial_uri(uri, "udp")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "uri",
    [
        "sip:bob@host",
        "sip:bob@pbx.example.com:5070",
        "sip:127.0.0.1",
        "sip:bob@127.0.0.1:5060;transport=udp",
        "sip:+15551234;phone-context=x@host",
        "sip:bob@[::1]:5060",
        "SIP:Bob@Host.Example",
        "sip:bob@host;lr;user=phone",
    ],
)
def test_good_uris_pass_unchanged_on_udp(uri: str) -> None:
    assert dial_uri(uri, "udp") == uri


def test_transport_must_be_one_the_phone_has() -> None:
    with pytest.raises(UriError, match='needs sip.transport = "tls"'):
        dial_uri("sips:bob@host", "udp")
    with pytest.raises(UriError, match="asks for transport=tls but this softphone uses 'udp'"):
        dial_uri("sip:bob@host;transport=tls", "udp")
    with pytest.raises(UriError, match="asks for transport=tcp but this softphone uses 'udp'"):
        dial_uri("sip:bob@host;transport=TCP", "udp")
    with pytest.raises(UriError, match="asks for transport=udp but this softphone uses 'tcp'"):
        dial_uri("sip:bob@host;transport=udp", "tcp")
    # a plain sip: URI on a TCP or TLS phone goes out over that transport (pjsip would pick
    # UDP, which it has no listener for)
    assert dial_uri("sip:bob@host", "tcp") == "sip:bob@host;transport=tcp"
    assert dial_uri("sips:bob@host", "tls") == "sips:bob@host;transport=tls"
    assert dial_uri("sip:bob@host;transport=tls", "tls") == "sip:bob@host;transport=tls"
    assert check_uri("sips:bob@host;transport=tls") == ("sips", "tls")
