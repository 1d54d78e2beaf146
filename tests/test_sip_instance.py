"""sip/instance.py: the kept +sip.instance id per installation and role (a second live process
of a role gets a fresh one), and reading our binding out of a REGISTER's 2xx."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sip import instance
from sip.instance import claim, contacts, our_binding

OK = (
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/TCP 127.0.0.1:40001;rport=40001;branch=z9hG4bKx\r\n"
    "Contact: <sip:agent@127.0.0.1:40532;transport=TCP;ob>;expires=117;"
    '+sip.instance="<urn:uuid:11111111-1111-1111-1111-111111111111>";reg-id=1, '
    "<sip:agent@127.0.0.1:40001;transport=TCP;ob>;expires=120;"
    '+sip.instance="<urn:uuid:22222222-2222-2222-2222-222222222222>";reg-id=1\r\n'
    "Content-Length: 0\r\n\r\n"
)


def test_contacts_split_on_commas_outside_brackets_and_quotes() -> None:
    msg = 'SIP/2.0 200 OK\r\nm: "A, B" <sip:a@h;x=1,2>;expires=5, <sip:b@h>\r\nContact: *\r\n\r\n'
    assert contacts(msg) == ['"A, B" <sip:a@h;x=1,2>;expires=5', "<sip:b@h>"]


def test_our_binding_by_instance_id() -> None:
    mine = "<urn:uuid:22222222-2222-2222-2222-222222222222>"
    assert our_binding(OK, mine) == (True, 1)
    assert our_binding(OK, "<urn:uuid:33333333-3333-3333-3333-333333333333>") == (False, 2)


def test_our_binding_by_address_when_the_registrar_drops_instance_ids() -> None:
    msg = OK.replace(';+sip.instance="<urn:uuid:11111111-1111-1111-1111-111111111111>"', "")
    msg = msg.replace(';+sip.instance="<urn:uuid:22222222-2222-2222-2222-222222222222>"', "")
    assert our_binding(msg, "<urn:uuid:x>") == (True, 1)  # the Via's 127.0.0.1:40001
    assert our_binding(msg.replace("40001;transport", "40002;transport"), "<urn:x>") == (False, 2)


def test_the_kept_id_is_stable_and_roles_differ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(instance, "_held", {})
    phone = claim("phone", tmp_path)
    call = claim("call", tmp_path)
    assert phone.kept and call.kept and phone.urn != call.urn
    assert phone.urn.startswith("<urn:uuid:") and phone.urn.endswith(">")
    assert (tmp_path / "sip-instance-phone").read_text().strip() == phone.urn
    with pytest.raises(ValueError):
        claim("robot", tmp_path)


def _claim_in_a_process(folder: Path) -> str:
    code = (
        "import sys; from pathlib import Path; from sip.instance import claim; "
        "i = claim('phone', Path(sys.argv[1])); print(i.urn, i.kept)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(folder)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    return out.stdout.strip()


def test_a_second_live_process_gets_a_fresh_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(instance, "_held", {})
    held = claim("phone", tmp_path)  # this process holds the lock now
    other = _claim_in_a_process(tmp_path)
    urn, kept = other.split()
    assert kept == "False" and urn != held.urn
    os.close(instance._held.pop("phone"))  # this process exits its role
    assert _claim_in_a_process(tmp_path) == f"{held.urn} True"  # the kept id again
