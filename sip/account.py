"""The SIP account: registration with our own backoff, and incoming calls handed to the phone.

pjsip's built-in retry is switched off (retryIntervalSec=0) so a refused or unreachable
registrar gets one clear line per attempt and retries at 1, 2, 4 ... 30 s (each step up to a
quarter longer, at random, so phones that lost one registrar do not return in lockstep) instead
of a fixed five minutes. Credentials the registrar refuses are not retried in a tight loop: the
line names the user, and the next try is AUTH_RETRY_S later. A dropped connection to the
registrar (TCP/TLS: it restarted, or the network went) registers again at once, since the
binding may be gone with it. Each 2xx is checked for our own binding (sip/instance.py).
A UDP REGISTER still unanswered after PROBE_AFTER_S is followed by an OPTIONS probe
(sip/probe.py, on its own thread), so a wrong or dead registrar address is reported in seconds
rather than after SIP's 32 s transaction timeout. Every failure also goes to
`trouble(message)`, which the command turns into an `error` event, and every change of state
to `status(state, message)` ("registering", "registered", "failing"), which the overlay
shows on both pages.
"""

from __future__ import annotations

import ipaddress
import random
import threading
from collections.abc import Callable

import pjsua2 as pj

from sip.config import SipConfig
from sip.instance import our_binding
from sip.probe import host_port, probe_udp
from sip.uri import dial_uri

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
BACKOFF_JITTER = 0.25  # each wait is up to this fraction longer, at random
AUTH_RETRY_S = 300.0  # refused credentials: a password does not fix itself
RECONNECT_S = 0.2  # the connection to the registrar dropped: register again this soon
REGISTER_WATCHDOG_S = 40.0  # longer than SIP's 32 s transaction timeout
SRTP_USE = {
    "off": pj.PJMEDIA_SRTP_DISABLED,
    "optional": pj.PJMEDIA_SRTP_OPTIONAL,
    "mandatory": pj.PJMEDIA_SRTP_MANDATORY,
}
PROBE_AFTER_S = 2.0  # a UDP REGISTER unanswered this long: is anything there at all?


def account_config(
    cfg: SipConfig, *, instance: str = "", register: bool = True
) -> pj.AccountConfig:
    acfg = pj.AccountConfig()
    acfg.idUri = cfg.uri
    acfg.regConfig.registrarUri = dial_uri(cfg.registrar, cfg.transport) if cfg.registrar else ""
    acfg.regConfig.registerOnAdd = bool(cfg.registrar) and register
    acfg.regConfig.retryIntervalSec = 0
    acfg.regConfig.timeoutSec = cfg.register_expires_s
    if instance:  # ours, not pjsua's per-host default (sip/instance.py)
        acfg.natConfig.sipOutboundInstanceId = instance
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


def _may_be(remote: str, registrar: str) -> bool:
    """Could a connection to `remote` ("ip:port", "[v6]:port") be the one to `registrar`?
    Only a registrar named by IP address can be ruled out (a name would need DNS here)."""
    host, port = host_port(registrar)
    r_host, _, r_port = remote.rpartition(":")
    try:
        ip, r_ip = ipaddress.ip_address(host), ipaddress.ip_address(r_host.strip("[]"))
    except ValueError:
        return True
    if ip != r_ip:
        return False
    rest = registrar.partition(":")[2].rpartition("@")[2].split(";")[0]
    names_port = "]:" in rest if rest.startswith("[") else ":" in rest
    return not names_port or r_port == str(port)


class SipAccount(pj.Account):
    """Registers (if a registrar is set), retries with backoff, routes incoming calls."""

    def __init__(
        self,
        cfg: SipConfig,
        *,
        instance: str = "",
        register: bool = True,
        on_incoming: Callable[[int], None],
        notify: Callable[[str], None],
        later: Callable[[float, Callable[[], None]], None],
        trouble: Callable[[str], None] = lambda message: None,
        status: Callable[[str, str], None] = lambda state, message: None,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.instance = instance
        self.register = register and bool(cfg.registrar)
        self.others = -1  # other bindings the account had at the last 2xx (-1: not known)
        self.lost_binding = False
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
        self._pending = 0  # the latest scheduled retry (older ones do nothing)

    def onRegState(self, prm: pj.OnRegStateParam) -> None:  # noqa: N802 - pjsua2 override
        try:
            self._reg_state(prm)
        except Exception as exc:  # noqa: BLE001 - never out of a pjsua2 callback; reported
            self.notify(f"registration handling failed: {type(exc).__name__}: {exc}")

    def _reg_state(self, prm: pj.OnRegStateParam) -> None:
        if self.closing:
            return
        if prm.code // 100 == 2 and prm.expiration > 0:
            self.successes += 1
            self.backoff_s = BACKOFF_FIRST_S
            if not self._binding_listed(prm):
                return
            if not self.registered:
                line = f"registered {self.cfg.uri} at {self.cfg.registrar}"
                self.notify(line)
                self.status("registered", line)
            self.registered = True
            return
        if prm.code // 100 == 2:  # unregistered on request
            self.registered = False
            return
        self._failed(prm.code, prm.reason)

    def _binding_listed(self, prm: pj.OnRegStateParam) -> bool:
        """The 2xx lists every binding of the account: is ours there? (False: reported, and
        registered again.) A change in the number of other bindings is one line."""
        if not self.instance:
            return True
        try:
            message = prm.rdata.wholeMsg
        except (AttributeError, pj.Error):
            return True
        if not message:
            return True
        ours, others = our_binding(message, self.instance)
        if others != self.others and others > 0:
            self.notify(
                f"{self.cfg.uri} has {others} other binding{'s' * (others != 1)} at "
                f"{self.cfg.registrar} (other phones on this account; calls ring all of them)"
            )
        self.others = others
        if ours:
            self.lost_binding = False
            return True
        if not self.lost_binding:
            self.lost_binding = True
            self.registered = False
            line = (
                f"the registrar {self.cfg.registrar} does not list this phone's binding "
                f"(instance {self.instance}); registering again"
            )
            self.notify(line)
            self.trouble(line)
            self.status("failing", line)
            self._schedule(self._jittered(BACKOFF_FIRST_S))
        return False

    @staticmethod
    def _jittered(step: float) -> float:
        return step * (1 + random.uniform(0, BACKOFF_JITTER))

    def connection_lost(self, reason: str, remote: str = "") -> None:
        """A TCP/TLS connection closed (pump thread): if it was the registrar's, our binding
        may be gone (a restarted registrar forgets it). Register again at once; if that fails,
        the backoff takes over and the pages show it. `remote` (TLS only) rules out
        connections to other peers when the registrar is named by IP address; otherwise any
        closed connection costs one REGISTER."""
        if self.closing or not self.register or self.cfg.transport == "udp":
            return
        if not self.registered:
            return  # not registered (a REGISTER whose connection was refused): backoff's turn
        if remote and not _may_be(remote, self.cfg.registrar):
            return
        line = (
            f"connection to the registrar {self.cfg.registrar} lost ({reason}); registering again"
        )
        self.notify(line)
        self.trouble(line)
        self.status("failing", line)  # unreachable until the registrar has us again
        self.registered = False
        self._schedule(RECONNECT_S)

    def _failed(self, code: int, reason: str) -> None:
        """One clear line, then a retry after the next backoff step."""
        self.registered = False
        self.failures += 1
        where = f"{self.cfg.uri} at {self.cfg.registrar}"
        if code in (401, 407) and self.cfg.username:
            delay = self._jittered(AUTH_RETRY_S)
            line = (
                f"the registrar refused the credentials for {self.cfg.username} ({code} "
                f"{reason}); check sip.username and sip.password; trying again in "
                f"{delay / 60:.0f} min"
            )
        elif code in (401, 407):
            delay = self._jittered(AUTH_RETRY_S)
            line = (
                f"the registrar wants credentials for {self.cfg.uri} ({code} {reason}); "
                f"set sip.username and sip.password; trying again in {delay / 60:.0f} min"
            )
        else:
            what = "refused" if 400 <= code < 500 and code != 408 else "failed"
            delay = self._jittered(self.backoff_s)
            self.backoff_s = min(self.backoff_s * 2, BACKOFF_MAX_S)
            line = f"registration of {where} {what}: {code} {reason}; retrying in {delay:.1f} s"
        self.notify(line)
        self.trouble(line)
        self.status("failing", line)
        self._schedule(delay)

    def start(self) -> None:
        """Create the account; a REGISTER that gets no answer at all is reported too."""
        if self.register:
            self.status("registering", f"registering {self.cfg.uri} at {self.cfg.registrar}")
        self.create(account_config(self.cfg, instance=self.instance, register=self.register))
        self._watch_attempt()

    def _watch_attempt(self) -> None:
        if not self.register:
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

    def _schedule(self, delay: float) -> None:
        """One REGISTER pending at a time: a newer schedule replaces an older one."""
        self._pending += 1
        mine = self._pending
        self.later(delay, lambda: self._retry(mine))

    def _retry(self, mine: int) -> None:
        if self.closing or mine != self._pending:
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
