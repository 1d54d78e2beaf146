"""Which binding at the registrar is ours: the `+sip.instance` id (RFC 5626) and the check of
the registrar's answer.

A registrar keys a binding by instance id and reg-id: two processes that register one account
with the same id replace each other's binding, and the one that exits removes the other's.
pjsua's default id is a hash of the host name, the same for every process on a host. So each
role (`phone` for `assist sip`, `call` for `assist sip call`) has an id of its own, made once
per installation and kept in the state directory: a restarted phone replaces its own stale
binding instead of piling up new ones. The id's file is locked while a process uses it; a
second live process of the same role gets a fresh id for its lifetime, so both stay reachable.

`our_binding` reads the Contact headers of a REGISTER's 2xx (every binding the account has):
whether ours is among them, and how many others there are.
"""

from __future__ import annotations

import fcntl
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

APP = "softphone-assist"
ROLES = ("phone", "call")


def state_dir() -> Path:
    """$XDG_STATE_HOME/softphone-assist, else ~/.local/state/softphone-assist."""
    base = os.environ.get("XDG_STATE_HOME", "").strip() or str(Path.home() / ".local" / "state")
    return Path(base) / APP


@dataclass(frozen=True, slots=True)
class Instance:
    """An instance id as pjsua takes it (`<urn:uuid:...>`); `kept`: the installation's id for
    the role (False: a fresh one, because another live process holds it or it cannot be kept)."""

    urn: str
    kept: bool


_held: dict[str, int] = {}  # role -> the locked file's descriptor, open for the process's life


def claim(role: str, directory: Path | None = None) -> Instance:
    """The installation's id for `role` if no other live process uses it, else a fresh one."""
    if role not in ROLES:
        raise ValueError(f"unknown SIP role {role!r}")
    if role in _held:
        return Instance(_read(_held[role]) or _fresh(), kept=True)
    folder = directory if directory is not None else state_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / f"sip-instance-{role}", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return Instance(_fresh(), kept=False)  # no writable state directory: unique per run
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return Instance(_fresh(), kept=False)
    urn = _read(fd)
    if urn is None:
        urn = _fresh()
        os.ftruncate(fd, 0)
        os.pwrite(fd, (urn + "\n").encode(), 0)
    _held[role] = fd
    return Instance(urn, kept=True)


def _fresh() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def _read(fd: int) -> str | None:
    text = os.pread(fd, 200, 0).decode("ascii", "replace").strip()
    try:
        return f"<urn:uuid:{uuid.UUID(text.removeprefix('<urn:uuid:').removesuffix('>'))}>"
    except ValueError:
        return None


_CONTACT = re.compile(r"^(?:contact|m)\s*:\s*(.*)$", re.IGNORECASE | re.MULTILINE)


def contacts(message: str) -> list[str]:
    """Every contact of a SIP message's Contact headers (several per header allowed)."""
    out: list[str] = []
    for m in _CONTACT.finditer(message):
        value, depth, start = m.group(1).strip(), 0, 0
        quoted = False
        for i, ch in enumerate(value):
            if ch == '"':
                quoted = not quoted
            elif not quoted and ch == "<":
                depth += 1
            elif not quoted and ch == ">":
                depth -= 1
            elif not quoted and depth == 0 and ch == ",":
                out.append(value[start:i].strip())
                start = i + 1
        if value[start:].strip():
            out.append(value[start:].strip())
    return [c for c in out if c and c != "*"]


def our_binding(message: str, urn: str) -> tuple[bool, int]:
    """(ours is listed, how many other bindings) in a REGISTER's 2xx. Ours is the contact whose
    +sip.instance is `urn`; a registrar that does not echo instance ids (Kamailio) is matched by
    address: our Contact names the host and port our Via does (both are our SIP transport's
    published address, rewritten alike behind NAT)."""
    listed = contacts(message)
    if any("+sip.instance" in c.lower() for c in listed):
        key = urn.lower()
        ours = sum(1 for c in listed if key in c.lower().replace("\\", ""))
    else:
        sent_by = _via_sent_by(message)
        ours = sum(1 for c in listed if sent_by and _hostport(c) == sent_by)
    return ours > 0, len(listed) - ours


_VIA = re.compile(r"^(?:via|v)\s*:\s*SIP/2\.0/\w+\s+([^;,\s]+)", re.IGNORECASE | re.MULTILINE)


def _via_sent_by(message: str) -> str:
    m = _VIA.search(message)
    return _with_port(m.group(1).lower()) if m else ""


def _hostport(contact: str) -> str:
    """host:port of a contact's URI, lower case (5060 when it names no port)."""
    uri = contact[contact.find("<") + 1 : contact.find(">")] if "<" in contact else contact
    rest = uri.split(":", 1)[-1].rpartition("@")[2]
    return _with_port(re.split(r"[;?>]", rest)[0].lower())


def _with_port(hostport: str) -> str:
    if hostport.startswith("["):
        return hostport if "]:" in hostport else hostport + ":5060"
    return hostport if ":" in hostport else hostport + ":5060"
