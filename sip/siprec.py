"""SIPREC offers, pure: the multipart body, the SDP's labelled streams, the RFC 7865 metadata,
and which stream is the agent's. No pjsua2, no I/O: everything here is text in, values out,
and every malformed input is a `SiprecError` with a message fit for a SIP reason and a log.

A recording client (an SBC or PBX) sends an INVITE with `Require: siprec` and a
`multipart/mixed` body: an SDP offer with one `sendonly` audio stream per direction, each with
`a=label:X`, and an `application/rs-metadata+xml` part (RFC 7865) naming the participants
(`nameID aor=`), the streams (`stream` with `label`) and who sends which
(`participantstreamassoc/send`). Real clients differ: the parts come in either order, the type
is `application/rs-metadata` or `+xml`, labels are `1`/`2` or `a_leg`/`b_leg`, older ones
(the pre-RFC drafts many SBCs still send) put `send` inside `participant` and use `id=`
attributes. This module accepts all of those.

Which stream is the agent's: a participant whose AoR matches one of the configured patterns
(`*` is the only wildcard) is an agent; the stream that agent sends is the agent's stream.
When the metadata cannot say (missing, no agent among the participants, both sides agents, a
label the SDP does not have), the documented fallback is stream order: `fallback` (1-based,
default 2: the first stream is the caller's side, which in a call centre is the customer) and
the result says why, so the command can emit it as an event.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32

MAX_METADATA = 64 * 1024  # bytes: far beyond any real recording's metadata
MAX_PARTS = 8
MAX_PARTICIPANTS = 64
METADATA_TYPES = ("application/rs-metadata+xml", "application/rs-metadata")
DEFAULT_FALLBACK = 2


class SiprecError(ValueError):
    """The offer cannot be recorded; `code` is the SIP status to answer with."""

    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(message)
        self.code = code


class NoSdp(SiprecError):
    """The body has no SDP part: pjsip answers such an INVITE itself (415), before any media."""


@dataclass(frozen=True, slots=True)
class Part:
    content_type: str  # lower case, no parameters
    body: bytes


@dataclass(frozen=True, slots=True)
class Participant:
    id: str
    aor: str = ""
    name: str = ""
    sends: tuple[str, ...] = ()  # stream ids


@dataclass(frozen=True, slots=True)
class Metadata:
    """What RFC 7865 metadata says about one recording session (ids as given)."""

    session_ids: tuple[str, ...] = ()
    group_ids: tuple[str, ...] = ()
    participants: tuple[Participant, ...] = ()
    streams: dict[str, str] = field(default_factory=dict)  # stream id -> label
    partial: bool = False  # `<datamode>partial`: only what changed (RFC 7865 section 6.1)

    def sender(self, label: str) -> Participant | None:
        """The participant who sends the stream with this SDP label, if the metadata says."""
        ids = {sid for sid, lab in self.streams.items() if lab == label}
        for p in self.participants:
            if ids.intersection(p.sends):
                return p
        return None


@dataclass(frozen=True, slots=True)
class SdpStream:
    index: int  # the m= line's position among all m= lines (pjsua's media index)
    label: str
    direction: str  # sendonly, sendrecv, inactive ...
    port: int


@dataclass(frozen=True, slots=True)
class AgentChoice:
    """Which of the two recorded streams is the agent's, and who is on each side."""

    agent: int  # position of the agent's stream among the offer's audio streams (0 or 1)
    agent_aor: str = ""
    customer_aor: str = ""
    fallback: str = ""  # why stream order decided ("" when the metadata did)


# -- the body --------------------------------------------------------------------------------


def split_body(content_type: str, body: bytes) -> list[Part]:
    """The parts of a SIP body: a multipart/mixed one split, any other a single part."""
    main = _media_type(content_type)
    if not main.startswith("multipart/"):
        return [Part(main, body)]
    if main != "multipart/mixed":
        raise SiprecError(f"unsupported body type {main}", 415)
    head = f"Content-Type: {content_type}\r\n\r\n".encode("utf-8", "replace")
    try:
        msg: Message = BytesParser(policy=compat32).parsebytes(head + body)
    except Exception as exc:  # noqa: BLE001 - the email parser's failures are input errors
        raise SiprecError(f"malformed multipart body: {exc}") from None
    if not msg.get_boundary():
        raise SiprecError("multipart body without a boundary")
    payload = msg.get_payload()
    if not isinstance(payload, list) or not payload or msg.defects:
        raise SiprecError("malformed multipart body (no parts between the boundaries)")
    if len(payload) > MAX_PARTS:
        raise SiprecError(f"multipart body with {len(payload)} parts (at most {MAX_PARTS})")
    parts = []
    for sub in payload:
        if not isinstance(sub, Message) or sub.is_multipart():
            raise SiprecError("nested multipart bodies are not supported", 415)
        raw = sub.get_payload(decode=True)
        data = raw if isinstance(raw, bytes) else b""
        parts.append(Part(_media_type(sub.get("Content-Type", "text/plain")), data))
    return parts


def offer_parts(content_type: str, body: bytes) -> tuple[str, bytes | None]:
    """(SDP text, metadata XML or None) of a recording INVITE's body, parts in any order."""
    sdp: str | None = None
    meta: bytes | None = None
    for part in split_body(content_type, body):
        if part.content_type == "application/sdp":
            if sdp is not None:
                raise SiprecError("two SDP parts in one body")
            sdp = part.body.decode("utf-8", "replace")
        elif part.content_type in METADATA_TYPES:
            if meta is not None:
                raise SiprecError("two metadata parts in one body")
            meta = part.body
    if sdp is None:
        raise NoSdp("no SDP offer in the body", 488)
    return sdp, meta


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


# -- the SDP ---------------------------------------------------------------------------------


def sdp_streams(sdp: str) -> list[SdpStream]:
    """The offer's audio streams in m= line order, with their label and direction."""
    out: list[SdpStream] = []
    index = -1
    current: dict[str, str] | None = None
    session_dir = "sendrecv"

    def close() -> None:
        if current is not None:
            out.append(
                SdpStream(
                    index=int(current["index"]),
                    label=current.get("label", ""),
                    direction=current.get("dir", session_dir),
                    port=int(current["port"]),
                )
            )

    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            close()
            index += 1
            fields = line[2:].split()
            port = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else -1
            current = (
                {"index": str(index), "port": str(port)}
                if fields and fields[0] == "audio"
                else None
            )
        elif line.startswith("a="):
            attr = line[2:]
            name, _, value = attr.partition(":")
            if name in ("sendonly", "recvonly", "sendrecv", "inactive") and not value:
                if index < 0:
                    session_dir = name
                elif current is not None:
                    current["dir"] = name
            elif name == "label" and current is not None:
                current["label"] = value.strip()
    close()
    return out


# -- the metadata ----------------------------------------------------------------------------


def parse_metadata(xml: bytes | str) -> Metadata:
    """RFC 7865 metadata (and the pre-RFC draft layout). Raises SiprecError if it is not XML
    or is too large; elements it does not know are ignored."""
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    if len(data) > MAX_METADATA:
        raise SiprecError(f"metadata of {len(data)} bytes (at most {MAX_METADATA})", 413)
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        raise SiprecError("metadata with a DOCTYPE or entities is refused")
    try:
        root = ET.fromstring(data)
    except (ET.ParseError, ValueError) as exc:
        raise SiprecError(f"metadata is not well-formed XML: {exc}") from None
    if _local(root.tag) != "recording":
        raise SiprecError(f"metadata root is <{_local(root.tag)}>, not <recording>")
    sessions: list[str] = []
    groups: list[str] = []
    streams: dict[str, str] = {}
    found: dict[str, dict[str, object]] = {}  # participant id -> aor, name, sends
    assoc: dict[str, list[str]] = {}
    partial = False
    for el in root:
        tag = _local(el.tag)
        if tag == "datamode":
            partial = _text(el).lower() == "partial"
        elif tag == "session":
            sid = _attr(el, "session_id", "id")
            if sid:
                sessions.append(sid)
        elif tag == "group":
            gid = _attr(el, "group_id", "id")
            if gid:
                groups.append(gid)
        elif tag == "stream":
            sid = _attr(el, "stream_id", "id")
            label = _text(_child(el, "label"))
            if sid and label:
                streams[sid] = label
        elif tag == "participant":
            if len(found) >= MAX_PARTICIPANTS:
                raise SiprecError(f"metadata with more than {MAX_PARTICIPANTS} participants")
            pid = _attr(el, "participant_id", "id")
            aor, name = _name_id(el)
            sends = [_text(s) for s in el if _local(s.tag) == "send" and _text(s)]
            found[pid] = {"aor": aor, "name": name, "sends": sends}
        elif tag == "participantstreamassoc":
            pid = _attr(el, "participant_id", "id")
            sends = [_text(s) for s in el if _local(s.tag) == "send" and _text(s)]
            assoc.setdefault(pid, []).extend(sends)
    participants = []
    for pid, info in found.items():
        sends = [*info["sends"], *assoc.get(pid, [])]  # type: ignore[misc]
        participants.append(
            Participant(
                id=pid,
                aor=str(info["aor"]),
                name=str(info["name"]),
                sends=tuple(dict.fromkeys(sends)),
            )
        )
    return Metadata(
        session_ids=tuple(sessions),
        group_ids=tuple(groups),
        participants=tuple(participants),
        streams=streams,
        partial=partial,
    )


def merge_metadata(old: Metadata | None, new: Metadata) -> Metadata:
    """The session's metadata after an update. A complete snapshot replaces the old one; a
    partial one (only what changed) is laid over it: streams and participants by id, and a
    stream a participant now sends is no longer sent by whoever sent it before; a participant
    left sending nothing that used to send was replaced (a transfer) and is dropped."""
    if not new.partial or old is None:
        return new
    taken = {sid for p in new.participants for sid in p.sends}
    fresh = {p.id for p in new.participants}
    kept: list[Participant] = []
    for p in old.participants:
        if p.id in fresh:
            continue
        sends = tuple(sid for sid in p.sends if sid not in taken)
        if p.sends and not sends:
            continue
        kept.append(Participant(id=p.id, aor=p.aor, name=p.name, sends=sends))
    return Metadata(
        session_ids=tuple(dict.fromkeys((*old.session_ids, *new.session_ids))),
        group_ids=tuple(dict.fromkeys((*old.group_ids, *new.group_ids))),
        participants=(*kept, *new.participants),
        streams={**old.streams, **new.streams},
    )


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _attr(el: ET.Element, *names: str) -> str:
    for name in names:
        value = el.get(name)
        if value:
            return value.strip()
    return ""


def _child(el: ET.Element, name: str) -> ET.Element | None:
    for sub in el:
        if _local(sub.tag) == name:
            return sub
    return None


def _text(el: ET.Element | None) -> str:
    return (el.text or "").strip() if el is not None else ""


def _name_id(el: ET.Element) -> tuple[str, str]:
    """(AoR, display name): `<nameID aor="..."><name>..</name></nameID>` (RFC 7865), or an
    `<aor>` child and a `<name>` child (older drafts)."""
    nid = _child(el, "nameID")
    if nid is None:  # an Element with no children is falsy: never `or` them
        nid = _child(el, "nameId")
    if nid is not None:
        return _attr(nid, "aor"), _text(_child(nid, "name"))
    return _text(_child(el, "aor")), _text(_child(el, "name"))


# -- who is the agent ------------------------------------------------------------------------


def aor_matches(aor: str, patterns: Iterable[str]) -> bool:
    """`aor` matches one of `patterns` (`*` any run of characters, case-insensitive). A
    pattern is tried on the whole AoR, on it without its scheme and parameters
    (user@host), with its scheme, and on its user part alone, so `1*`, `*@agents.example.com` and
    `sip:1001@pbx` all work."""
    forms = _aor_forms(aor)
    if not forms:
        return False
    for pattern in patterns:
        rx = re.compile(".*".join(re.escape(p) for p in pattern.lower().split("*")))
        if any(rx.fullmatch(f) for f in forms):
            return True
    return False


def _aor_forms(aor: str) -> list[str]:
    full = aor.strip().strip("<>").lower()
    if not full:
        return []
    plain = full.split(";", 1)[0].split("?", 1)[0]  # no parameters or headers
    bare = re.sub(r"^(sips?|tel):", "", plain)
    user = bare.split("@", 1)[0]
    return list(dict.fromkeys((full, plain, bare, user)))


def choose_agent(
    meta: Metadata | None,
    labels: Sequence[str],
    patterns: Sequence[str],
    *,
    fallback: int = DEFAULT_FALLBACK,
) -> AgentChoice:
    """Which of the two streams (SDP labels in offer order) is the agent's."""
    if len(labels) != 2:
        raise ValueError("choose_agent needs exactly two streams")
    if fallback not in (1, 2):
        raise ValueError("fallback is 1 or 2")
    senders = [meta.sender(label) if meta is not None and label else None for label in labels]
    aors = [p.aor if p is not None else "" for p in senders]
    order = fallback - 1

    def by_order(why: str) -> AgentChoice:
        return AgentChoice(
            agent=order, agent_aor=aors[order], customer_aor=aors[1 - order], fallback=why
        )

    if meta is None:
        return by_order("no recording metadata")
    if None in senders:
        missing = [lab or "(none)" for lab, p in zip(labels, senders, strict=True) if p is None]
        return by_order(f"the metadata names no sender for stream label {', '.join(missing)}")
    agents = [i for i, aor in enumerate(aors) if aor_matches(aor, patterns)]
    if len(agents) == 1:
        i = agents[0]
        return AgentChoice(agent=i, agent_aor=aors[i], customer_aor=aors[1 - i])
    if not agents:
        return by_order(f"no participant matches the agent patterns ({', '.join(aors)})")
    return by_order(f"both participants match the agent patterns ({', '.join(aors)})")


@dataclass(frozen=True, slots=True)
class Offer:
    """A recording offer checked for what we record: exactly two labelled audio streams."""

    streams: tuple[SdpStream, SdpStream]
    metadata: Metadata | None  # None: the client sent none (stream order decides)


def read_offer(content_type: str, body: bytes) -> Offer:
    """Everything the server needs from a recording INVITE's body; SiprecError if it cannot
    be recorded (the SIP status to answer is the error's `code`)."""
    sdp, meta_xml = offer_parts(content_type, body)
    audio = [s for s in sdp_streams(sdp) if s.port != 0]
    if len(audio) != 2:
        raise SiprecError(
            f"{len(audio)} audio streams offered; a recording of one call has exactly 2", 488
        )
    meta = parse_metadata(meta_xml) if meta_xml is not None else None  # broken: refused
    return Offer(streams=(audio[0], audio[1]), metadata=meta)


SENDING = ("sendonly", "sendrecv")


@dataclass(frozen=True, slots=True)
class Update:
    """What a mid-session re-INVITE or UPDATE says (RFC 7866 section 7.1): new metadata (a
    transfer, a new participant) and/or, from its SDP, whether the client paused the
    recording (no stream it still sends: `a=inactive`) or resumed it (`sendonly` again)."""

    metadata: Metadata | None = None  # None: no metadata part (the parties are unchanged)
    paused: bool | None = None  # None: no SDP (the media are unchanged)


def read_update(content_type: str, body: bytes) -> Update:
    """A re-INVITE's or UPDATE's body, either part optional; SiprecError if broken."""
    if not content_type.strip():
        return Update()
    sdp: str | None = None
    meta_xml: bytes | None = None
    for part in split_body(content_type, body):
        if part.content_type == "application/sdp" and sdp is None:
            sdp = part.body.decode("utf-8", "replace")
        elif part.content_type in METADATA_TYPES and meta_xml is None:
            meta_xml = part.body
    paused: bool | None = None
    if sdp is not None:
        audio = [st for st in sdp_streams(sdp) if st.port != 0]
        if audio:  # no stream at all says nothing about a pause
            paused = not any(st.direction in SENDING for st in audio)
    meta = parse_metadata(meta_xml) if meta_xml is not None else None
    return Update(metadata=meta, paused=paused)
