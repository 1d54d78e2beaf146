"""The SIPREC offer, pure: multipart bodies in either order and either metadata type, the SDP's
labelled streams, RFC 7865 metadata (its own examples) and the pre-RFC layout SBCs still send,
which stream is the agent's (patterns, fallback with a reason), and no input that crashes it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sip.siprec import (
    Metadata,
    SiprecError,
    Update,
    aor_matches,
    choose_agent,
    merge_metadata,
    offer_parts,
    parse_metadata,
    read_offer,
    read_update,
    sdp_streams,
)

# RFC 7865 section 8.1 (complete metadata of a two-party call), as printed there.
RFC7865 = """<?xml version="1.0" encoding="UTF-8"?>
<recording xmlns='urn:ietf:params:xml:ns:recording:1'>
  <datamode>complete</datamode>
  <group group_id="7+OTCyoxTmqmqyA/1weDAg==">
    <associate-time>2010-12-16T23:41:07Z</associate-time>
    <!-- Standardized extension -->
    <call-center xmlns='urn:ietf:params:xml:ns:callcenter'>
      <supervisor>sip:alice@atlanta.com</supervisor>
    </call-center>
    <mydata xmlns='http://example.com/my'>
      <structure>structure!</structure>
      <whatever>structure</whatever>
    </mydata>
  </group>
  <session session_id="hVpd7YQgRW2nD22h7q60JQ==">
    <sipSessionID>ab30317f1a784dc48ff824d0d3715d86;
      remote=47755a9de7794ba387653f2099600ef2</sipSessionID>
    <group-ref>7+OTCyoxTmqmqyA/1weDAg==</group-ref>
    <!-- Standardized extension -->
    <mydata xmlns='http://example.com/my'>
      <structure>FOO!</structure>
      <whatever>bar</whatever>
    </mydata>
  </session>
  <participant participant_id="srfBElmCRp2QB23b7Mpk0w==">
    <nameID aor="sip:alice@atlanta.com">
      <naSRCme xml:lang="it">Alice</naSRCme>
    </nameID>
    <!-- Standardized extension -->
    <mydata xmlns='http://example.com/my'>
      <structure>FOO!</structure>
      <whatever>bar</whatever>
    </mydata>
  </participant>
  <participant participant_id="zSfPoSvdSDCmU3A3TRDxAw==">
    <nameID aor="sip:bob@biloxy.com">
      <name xml:lang="it">Bob</name>
    </nameID>
    <!-- Standardized extension -->
    <mydata xmlns='http://example.com/my'>
      <structure>FOO!</structure>
      <whatever>bar</whatever>
    </mydata>
  </participant>
  <stream stream_id="UAAMm5GRQKSCMVvLyl4rFw=="
      session_id="hVpd7YQgRW2nD22h7q60JQ==">
    <label>96</label>
  </stream>
  <stream stream_id="i1Pz3to5hGk8fuXl+PbwCw=="
      session_id="hVpd7YQgRW2nD22h7q60JQ==">
    <label>97</label>
  </stream>
  <stream stream_id="8zc6e0lYTlWIINA6GR+3ag=="
      session_id="hVpd7YQgRW2nD22h7q60JQ==">
    <label>98</label>
  </stream>
  <stream stream_id="EiXGlc+4TruqqoDaNE76ag=="
      session_id="hVpd7YQgRW2nD22h7q60JQ==">
    <label>99</label>
  </stream>
  <sessionrecordingassoc session_id="hVpd7YQgRW2nD22h7q60JQ==">
    <associate-time>2010-12-16T23:41:07Z</associate-time>
  </sessionrecordingassoc>
  <participantsessionassoc
      participant_id="srfBElmCRp2QB23b7Mpk0w=="
      session_id="hVpd7YQgRW2nD22h7q60JQ==">
    <associate-time>2010-12-16T23:41:07Z</associate-time>
  </participantsessionassoc>
  <participantsessionassoc
      participant_id="zSfPoSvdSDCmU3A3TRDxAw=="
      session_id="hVpd7YQgRW2nD22h7q60JQ==">
    <associate-time>2010-12-16T23:41:07Z</associate-time>
  </participantsessionassoc>
  <participantstreamassoc
      participant_id="srfBElmCRp2QB23b7Mpk0w==">
    <send>i1Pz3to5hGk8fuXl+PbwCw==</send>
    <send>UAAMm5GRQKSCMVvLyl4rFw==</send>
    <recv>8zc6e0lYTlWIINA6GR+3ag==</recv>
    <recv>EiXGlc+4TruqqoDaNE76ag==</recv>
  </participantstreamassoc>
  <participantstreamassoc
      participant_id="zSfPoSvdSDCmU3A3TRDxAw==">
    <send>8zc6e0lYTlWIINA6GR+3ag==</send>
    <send>EiXGlc+4TruqqoDaNE76ag==</send>
    <recv>UAAMm5GRQKSCMVvLyl4rFw==</recv>
    <recv>i1Pz3to5hGk8fuXl+PbwCw==</recv>
  </participantstreamassoc>
</recording>
"""

# The pre-RFC draft layout (id= attributes, send inside participant) as Acme/Oracle and
# older CUBE releases send it, labels 1 and 2.
DRAFT = """<?xml version="1.0" encoding="UTF-8"?>
<recording xmlns="urn:ietf:params:xml:ns:recording">
  <datamode>complete</datamode>
  <session id="s1"><associate-time>2024-01-01T10:00:00</associate-time></session>
  <participant id="p1" session="s1">
    <nameID aor="sip:+15551230000@carrier.example"><name>Caller</name></nameID>
    <send>st1</send><recv>st2</recv>
  </participant>
  <participant id="p2" session="s1">
    <nameID aor="sip:1001@pbx.example.com"><name>Agent 1001</name></nameID>
    <send>st2</send><recv>st1</recv>
  </participant>
  <stream id="st1" session="s1"><label>1</label></stream>
  <stream id="st2" session="s1"><label>2</label></stream>
</recording>
"""

# AudioCodes / OpenSIPS style: RFC 7865 elements, labels a_leg / b_leg, an <aor> child.
LEGS = """<recording xmlns='urn:ietf:params:xml:ns:recording:1'>
  <session session_id="S"/>
  <participant participant_id="A"><aor>sip:agent7@agents.example.com</aor><name>Seven</name>
  </participant>
  <participant participant_id="B"><nameID aor="tel:+441234567890"/></participant>
  <stream stream_id="X" session_id="S"><label>a_leg</label></stream>
  <stream stream_id="Y" session_id="S"><label>b_leg</label></stream>
  <participantstreamassoc participant_id="A"><send>X</send></participantstreamassoc>
  <participantstreamassoc participant_id="B"><send>Y</send></participantstreamassoc>
</recording>"""


def sdp(*labels: str, direction: str = "sendonly") -> str:
    lines = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0"]
    for i, label in enumerate(labels):
        lines += [f"m=audio {4000 + 2 * i} RTP/AVP 0", f"a={direction}", f"a=label:{label}"]
    return "\r\n".join(lines) + "\r\n"


def multipart(*parts: tuple[str, str], boundary: str = "unique-boundary-1") -> tuple[str, bytes]:
    body = ""
    for ctype, text in parts:
        body += f"--{boundary}\r\nContent-Type: {ctype}\r\n\r\n{text}\r\n"
    body += f"--{boundary}--\r\n"
    return f'multipart/mixed;boundary="{boundary}"', body.encode()


def test_rfc7865_example_participants_streams_and_ids() -> None:
    meta = parse_metadata(RFC7865)
    assert meta.session_ids == ("hVpd7YQgRW2nD22h7q60JQ==",)
    assert meta.group_ids == ("7+OTCyoxTmqmqyA/1weDAg==",)
    assert [(p.aor, p.name) for p in meta.participants] == [
        ("sip:alice@atlanta.com", ""),  # the RFC's own typo: <naSRCme>, so no <name>
        ("sip:bob@biloxy.com", "Bob"),
    ]
    assert meta.streams["UAAMm5GRQKSCMVvLyl4rFw=="] == "96"
    alice, bob = meta.participants
    assert set(alice.sends) == {"i1Pz3to5hGk8fuXl+PbwCw==", "UAAMm5GRQKSCMVvLyl4rFw=="}
    assert meta.sender("98") == bob and meta.sender("96") == alice
    assert meta.sender("100") is None


def test_the_draft_layout_with_send_inside_participant() -> None:
    meta = parse_metadata(DRAFT)
    assert meta.session_ids == ("s1",)
    assert meta.sender("1") is not None and meta.sender("1").aor.startswith("sip:+1555")  # type: ignore[union-attr]
    assert meta.sender("2").name == "Agent 1001"  # type: ignore[union-attr]


def test_labels_a_leg_b_leg_and_an_aor_child() -> None:
    meta = parse_metadata(LEGS)
    assert meta.sender("a_leg").aor == "sip:agent7@agents.example.com"  # type: ignore[union-attr]
    assert meta.sender("b_leg").aor == "tel:+441234567890"  # type: ignore[union-attr]


@pytest.mark.parametrize("meta_type", ["application/rs-metadata+xml", "application/rs-metadata"])
@pytest.mark.parametrize("meta_first", [False, True])
def test_multipart_in_either_order_and_either_metadata_type(
    meta_type: str, meta_first: bool
) -> None:
    parts = [("application/sdp", sdp("1", "2")), (meta_type, DRAFT)]
    ctype, body = multipart(*(reversed(parts) if meta_first else parts))
    offer = read_offer(ctype, body)
    assert [s.label for s in offer.streams] == ["1", "2"]
    assert [s.direction for s in offer.streams] == ["sendonly", "sendonly"]
    assert offer.metadata is not None
    choice = choose_agent(offer.metadata, ["1", "2"], ["1*"])
    assert choice.agent == 1 and choice.agent_aor == "sip:1001@pbx.example.com"
    assert choice.fallback == ""


def test_a_plain_sdp_body_has_no_metadata() -> None:
    sdp_text, meta = offer_parts("application/sdp", sdp("1", "2").encode())
    assert meta is None and "a=label:1" in sdp_text


def test_stream_indexes_count_every_m_line() -> None:
    text = sdp("1") + "m=video 5000 RTP/AVP 96\r\na=label:v\r\n" + "m=audio 6000 RTP/AVP 0\r\n"
    streams = sdp_streams(text + "a=label:2\r\n")
    assert [(s.index, s.label) for s in streams] == [(0, "1"), (2, "2")]


@pytest.mark.parametrize(
    ("ctype", "body", "code", "says"),
    [
        (*multipart(("application/sdp", sdp("1", "2", "3"))), 488, "3 audio streams"),
        (*multipart(("application/sdp", sdp("1"))), 488, "1 audio streams"),
        (*multipart(("application/rs-metadata+xml", DRAFT)), 488, "no SDP"),
        ("multipart/mixed", b"--x\r\n\r\n", 400, "boundary"),
        ('multipart/mixed;boundary="nope"', b"garbage with no boundary", 400, "malformed"),
        ("multipart/alternative;boundary=x", b"--x--", 415, "unsupported"),
        (
            *multipart(
                ("application/sdp", sdp("1", "2")), ("application/rs-metadata", "<recording")
            ),
            400,
            "not well-formed",
        ),
        (
            *multipart(("application/sdp", sdp("1", "2")), ("application/rs-metadata", "<a/>")),
            400,
            "not <recording>",
        ),
    ],
)
def test_what_cannot_be_recorded_is_refused_with_a_status(
    ctype: str, body: bytes, code: int, says: str
) -> None:
    with pytest.raises(SiprecError) as err:
        read_offer(ctype, body)
    assert err.value.code == code and says in str(err.value)


def test_entities_are_refused_before_parsing() -> None:
    bomb = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><recording>&a;</recording>'
    with pytest.raises(SiprecError, match="DOCTYPE"):
        parse_metadata(bomb)
    with pytest.raises(SiprecError, match="at most"):
        parse_metadata("<recording>" + " " * 70_000 + "</recording>")


@pytest.mark.parametrize(
    ("aor", "patterns", "hit"),
    [
        ("sip:1001@pbx.example.com", ["1*"], True),
        ("sip:1001@pbx.example.com", ["*@pbx.example.com"], True),
        ("sip:1001@pbx.example.com;transport=tcp", ["sip:1001@pbx.example.com"], True),
        ("<sips:Agent7@Agents.Example.com>", ["*@agents.example.com"], True),
        ("sip:+15551230000@carrier.example", ["1*"], False),
        ("sip:2001@pbx.example.com", ["1*", "20?1"], False),  # `?` is literal, not a wildcard
        ("", ["*"], False),
    ],
)
def test_agent_patterns(aor: str, patterns: list[str], hit: bool) -> None:
    assert aor_matches(aor, patterns) is hit


def test_the_fallback_is_stream_order_and_says_why() -> None:
    meta = parse_metadata(DRAFT)
    none = choose_agent(None, ["1", "2"], ["1*"])
    assert none.agent == 1 and none.fallback == "no recording metadata"
    first = choose_agent(None, ["1", "2"], ["1*"], fallback=1)
    assert first.agent == 0
    nobody = choose_agent(meta, ["1", "2"], ["9*"])
    assert nobody.agent == 1 and "no participant matches" in nobody.fallback
    assert nobody.customer_aor.startswith("sip:+1555")  # the AoRs are still known
    both = choose_agent(meta, ["1", "2"], ["*"])
    assert "both participants" in both.fallback
    unknown = choose_agent(meta, ["a", "b"], ["1*"])
    assert "no sender for stream label a, b" in unknown.fallback
    swapped = choose_agent(meta, ["2", "1"], ["1*"])
    assert swapped.agent == 0 and swapped.fallback == ""


def test_an_empty_metadata_document_parses_to_nothing() -> None:
    assert parse_metadata("<recording xmlns='urn:ietf:params:xml:ns:recording:1'/>") == Metadata()


@settings(max_examples=300, deadline=None)
@given(ctype=st.text(max_size=60), body=st.binary(max_size=2000))
def test_no_body_crashes_the_offer_reader(ctype: str, body: bytes) -> None:
    try:
        offer = read_offer(ctype, body)
    except SiprecError:
        return
    choose_agent(offer.metadata, [s.label for s in offer.streams], ["1*"])


@settings(max_examples=300, deadline=None)
@given(
    xml=st.one_of(
        st.text(max_size=500),
        st.builds(
            lambda a, b, c: (
                f"<recording><participant {a}><nameID aor={b!r}/><send>{c}</send>"
                f"</participant><stream {a}><label>{c}</label></stream></recording>"
            ),
            st.sampled_from(["id='p'", "participant_id=''", "stream_id='x' id='y'", ""]),
            st.text(max_size=20),
            st.text(max_size=20).filter(lambda s: "<" not in s and "&" not in s),
        ),
    )
)
def test_no_metadata_crashes_the_parser(xml: str) -> None:
    try:
        meta = parse_metadata(xml)
    except SiprecError:
        return
    for label in meta.streams.values():
        meta.sender(label)
    choose_agent(meta, ["1", "2"], ["*x*"])


# A transfer as partial metadata (RFC 7865 section 6.1: only what changed): a new agent,
# participant p3, now sends stream st2 in place of p2.
TRANSFER = """<recording xmlns="urn:ietf:params:xml:ns:recording">
  <datamode>partial</datamode>
  <participant id="p3" session="s1">
    <nameID aor="sip:2002@pbx.example.com"><name>Agent 2002</name></nameID>
    <send>st2</send>
  </participant>
</recording>"""


def test_a_partial_update_is_laid_over_the_sessions_metadata() -> None:
    before = parse_metadata(DRAFT)
    change = parse_metadata(TRANSFER)
    assert change.partial and not before.partial
    after = merge_metadata(before, change)
    assert after.sender("2").aor == "sip:2002@pbx.example.com"  # type: ignore[union-attr]
    assert after.sender("1").aor == "sip:+15551230000@carrier.example"  # type: ignore[union-attr]
    # the replaced agent sends nothing any more and is no longer a participant
    assert [p.aor for p in after.participants] == [
        "sip:+15551230000@carrier.example",
        "sip:2002@pbx.example.com",
    ]
    assert after.session_ids == ("s1",)
    assert choose_agent(after, ["1", "2"], ["1*", "2*"]).agent_aor == "sip:2002@pbx.example.com"
    # a complete snapshot replaces what was there
    assert merge_metadata(before, parse_metadata(LEGS)) == parse_metadata(LEGS)


@pytest.mark.parametrize(
    ("direction", "paused"),
    [("inactive", True), ("recvonly", True), ("sendonly", False), ("sendrecv", False)],
)
def test_a_mid_call_offer_says_whether_the_recording_is_paused(
    direction: str, paused: bool
) -> None:
    ctype, body = multipart(("application/sdp", sdp("1", "2", direction=direction)))
    update = read_update(ctype, body)
    assert update.paused is paused and update.metadata is None
    update = read_update("application/sdp", sdp("1", "2", direction=direction).encode())
    assert update.paused is paused


def test_a_mid_call_update_with_metadata_alone_or_nothing() -> None:
    update = read_update("application/rs-metadata+xml", TRANSFER.encode())
    assert update.paused is None and update.metadata == parse_metadata(TRANSFER)
    assert read_update("", b"") == Update()
    assert read_update("application/sdp", b"v=0\r\n") == Update()  # no stream: no change


@settings(max_examples=200, deadline=None)
@given(ctype=st.sampled_from(["application/sdp", 'multipart/mixed;boundary="b"', ""]),
       body=st.binary(max_size=1000))  # fmt: skip
def test_no_mid_call_body_crashes_the_update_reader(ctype: str, body: bytes) -> None:
    try:
        read_update(ctype, body)
    except SiprecError:
        return
