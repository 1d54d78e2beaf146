"""The SIP account: registration with our own backoff, and incoming calls handed to the phone.

pjsip's built-in retry is switched off (retryIntervalSec=0) so a refused or unreachable
registrar gets one clear line per attempt and retries at 1, 2, 4 ... 60 s instead of a fixed
five minutes. A UDP REGISTER still unanswered after PROBE_AFTER_S is followed by an OPTIONS
probe (sip/probe.py, on its own thread), so a wrong or dead registrar address is reported in
seconds rather than after SIP's 32 s transaction timeout. Every failure also goes to
`trouble(message)`, which the command turns into an `error` event, and every change of state
to `status(state, message)` ("registering", "registered", "failing"), which the overlay
shows on both pages.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pjsua2 as pj

from assist.runtime.config import SipConfig
from sip.probe import probe_udp
from sip.uri import dial_uri

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 60.0
REGISTER_EXPIRES_S = 300
REGISTER_WATCHDOG_S = 40.0  # longer than SIP's 32 s transaction timeout
SRTP_USE = {
    "off": pj.PJMEDIA_SRTP_DISABLED,
    "optional": pj.PJMEDIA_SRTP_OPTIONAL,
    "mandatory": pj.PJMEDIA_SRTP_MANDATORY,
}
PROBE_AFTER_S = 2.0  # a UDP REGISTER unanswered this long: is anything there at all?


def account_config(cfg: SipConfig) -> pj.AccountConfig:
    acfg = pj.AccountConfig()
    acfg.idUri = cfg.uri
    acfg.regConfig.registrarUri = dial_uri(cfg.registrar, cfg.transport) if cfg.registrar else ""
    acfg.regConfig.registerOnAdd = bool(cfg.registrar)
    acfg.regConfig.retryIntervalSec = 0
    acfg.regConfig.timeoutSec = REGISTER_EXPIRES_S
    if cfg.username:
        acfg.sipConfig.authCreds.append(
            pj.AuthCredInfo("digest", cfg.realm, cfg.username, 0, cfg.password)
        )
    acfg.mediaConfig.transportConfig.port = cfg.rtp_port
    if cfg.transport != "udp" and (cfg.transport == "tcp" or cfg.tls_cert):
        # Contact names our listener, not the source port of the REGISTER's connection: a
        # proxy that opens a new connection for in-dialog requests (ACK, BYE) then reaches us
        acfg.natConfig.contactUseSrcPort = False
    acfg.mediaConfig.srtpUse = SRTP_USE[cfg.srtp]
    # SDES keys travel in the SDP: over TLS only, unless the user chose SRTP on plain SIP
    acfg.mediaConfig.srtpSecureSignaling = 1 if cfg.transport == "tls" else 0
    if cfg.bind:
        acfg.mediaConfig.transportConfig.boundAddress = cfg.bind
    if cfg.public_address:
        # a fixed public address (ports forwarded 1:1): RTP's SDP c= line names it too, and
        # the registrar's received/rport must not rewrite the Contact back to what it saw
        acfg.mediaConfig.transportConfig.publicAddress = cfg.public_address
        acfg.natConfig.contactRewriteUse = 0
        acfg.natConfig.viaRewriteUse = 0
    acfg.natConfig.iceEnabled = cfg.ice
    return acfg


class SipAccount(pj.Account):
    """Registers (if a registrar is set), retries with backoff, routes incoming calls."""

    def __init__(
        self,
        cfg: SipConfig,
        *,
        on_incoming: Callable[[int], None],
        notify: Callable[[str], None],
        later: Callable[[float, Callable[[], None]], None],
        trouble: Callable[[str], None] = lambda message: None,
        status: Callable[[str, str], None] = lambda state, message: None,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.on_incoming = on_incoming
        self.notify = notify
        self.later = later
        self.trouble = trouble
        self.status = status  # (state, message) on every change; pump or probe thread
        self.backoff_s = BACKOFF_FIRST_S
        self.registered = False
        self.failures = 0
        self.successes = 0
        self.closing = False

    def onRegState(self, prm: pj.OnRegStateParam) -> None:  # noqa: N802 - pjsua2 override
        try:
            self._reg_state(prm)
        except Exception as exc:  # noqa: BLE001 - never out of a pjsua2 callback; reported
            self.notify(f"registration handling failed: {type(exc).__name__}: {exc}")

    def _reg_state(self, prm: pj.OnRegStateParam) -> None:
        if self.closing:
            return
        if prm.code // 100 == 2 and prm.expiration > 0:
            if not self.registered:
                line = f"registered {self.cfg.uri} at {self.cfg.registrar}"
                self.notify(line)
                self.status("registered", line)
            self.registered = True
            self.successes += 1
            self.backoff_s = BACKOFF_FIRST_S
            return
        if prm.code // 100 == 2:  # unregistered on request
            self.registered = False
            return
        self._failed(prm.code, prm.reason)

    def _failed(self, code: int, reason: str) -> None:
        """One clear line, then a retry after the next backoff step."""
        self.registered = False
        self.failures += 1
        what = "refused" if 400 <= code < 500 and code != 408 else "failed"
        delay = self.backoff_s
        self.backoff_s = min(self.backoff_s * 2, BACKOFF_MAX_S)
        line = (
            f"registration of {self.cfg.uri} at {self.cfg.registrar} {what}: "
            f"{code} {reason}; retrying in {delay:g} s"
        )
        self.notify(line)
        self.trouble(line)
        self.status("failing", line)
        self.later(delay, self._retry)

    def start(self) -> None:
        """Create the account; a REGISTER that gets no answer at all is reported too."""
        if self.cfg.registrar:
            self.status("registering", f"registering {self.cfg.uri} at {self.cfg.registrar}")
        self.create(account_config(self.cfg))
        self._watch_attempt()

    def _watch_attempt(self) -> None:
        if not self.cfg.registrar:
            return
        attempt = self.failures, self.successes

        def check() -> None:  # no onRegState since: pjsip could not even send it
            if not self.closing and (self.failures, self.successes) == attempt:
                self._failed(408, f"no answer within {REGISTER_WATCHDOG_S:g} s")

        def probe() -> None:  # no answer yet: ask whether anything is there (off this thread)
            if not self.closing and (self.failures, self.successes) == attempt:
                threading.Thread(target=self._probe, name="sip-probe", daemon=True).start()

        self.later(REGISTER_WATCHDOG_S, check)
        if self.cfg.transport == "udp":
            self.later(PROBE_AFTER_S, probe)

    def _probe(self) -> None:
        """Probe thread: touches no pjsua2 object, only reports."""
        problem = probe_udp(self.cfg.registrar)
        if problem is not None and not self.closing:
            line = f"registrar {self.cfg.registrar} unreachable: {problem}; still trying"
            self.notify(line)
            self.trouble(line)
            self.status("failing", line)

    def _retry(self) -> None:
        if self.closing:
            return
        try:
            self.setRegistration(True)
        except pj.Error as exc:
            self._failed(503, exc.reason)
            return
        self._watch_attempt()

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:  # noqa: N802
        try:
            self.on_incoming(prm.callId)
        except Exception as exc:  # noqa: BLE001 - never out of a pjsua2 callback; reported
            self.notify(f"incoming call failed: {type(exc).__name__}: {exc}")
