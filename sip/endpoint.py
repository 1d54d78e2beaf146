"""The pjsua2 Endpoint on one dedicated thread: every pjsua2 call is made on that thread.

pjsua2 is configured with no SIP worker threads (threadCnt=0) and mainThreadOnly, so its
callbacks arrive on the thread that pumps `libHandleEvents` — ours. Other threads (the overlay's
control requests, the CLI) never call pjsua2: they hand a callable to `run()`/`post()`, which the
pump executes between polls. The conference bridge's clock thread (pjmedia's own) runs no
Python per tick: the analysis taps are C-side WAV writers (sip/tap.py).

Shutdown order matters for a clean exit: hang up, let the BYEs go out, drop every Python
reference to calls/ports/accounts on this thread, then `libDestroy`.

Python's cyclic garbage collector runs on this thread too while the endpoint lives
(`PumpCollector`): an automatic collection runs on whichever thread happens to allocate, and a
pjsua2 object caught in a reference cycle (a traceback's frame holding a call or a recorder)
would be destroyed there; pjsua then aborts the process ("Calling pjlib from unknown/external
thread").
"""

from __future__ import annotations

import gc
import heapq
import itertools
import queue
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol

import pjsua2 as pj

from assist.core.errors import ServiceError

POLL_MS = 10
WORK_QUEUE = 256  # pending requests from other threads; beyond that callers get an error
CLOCK_RATE = 16_000  # conference bridge rate: the analysis rate, so taps need no resampling
SHUTDOWN_DRAIN_S = 2.0
START_TIMEOUT_S = 15.0
STUN_TIMEOUT_S = 10.0  # per configured STUN server (pjnath gives up after ~8 s)
BOTH_TRIES = 20  # port 0 with udp+tcp: ports the OS offers for UDP until TCP is free there too
MAX_CALLS = 32  # asked for; the PyPI wheel still holds 4 calls (see sip/recorder.py setup)
KEEPALIVE_PROBE_S = 5  # TCP keep-alive: seconds between unanswered probes
KEEPALIVE_PROBES = 3  # unanswered probes before the kernel closes the connection
FULL_GC_SHARE = 0.05  # the most of the pump's time full collections may take
FULL_GC_MIN_GAP_S = 1.0  # and never more often than this


def analysis_media(cfg: pj.EpConfig) -> None:
    """The softphone's bridge: the analysis format (16 kHz mono, 20 ms frames), raw streams.
    Also used by the tap benchmark and test scripts, so they measure the bridge that ships."""
    cfg.medConfig.clockRate = CLOCK_RATE
    cfg.medConfig.sndClockRate = CLOCK_RATE
    cfg.medConfig.channelCount = 1
    cfg.medConfig.audioFramePtime = 20
    cfg.medConfig.ecTailLen = 0  # no echo canceller: the taps must see the raw streams
    cfg.medConfig.noVad = True  # no silence suppression: steady audio must not be cut


class Owner(Protocol):
    """What the pump drives, all on its thread: build, wind down, report idle, let go."""

    def setup(self, ep: pj.Endpoint, port: int) -> None: ...

    def closing(self) -> None: ...

    def idle(self) -> bool: ...

    def failed(self, exc: BaseException, where: str) -> None: ...

    def connection_lost(self, reason: str, remote: str) -> None: ...

    def release(self) -> None: ...


class _Endpoint(pj.Endpoint):
    """pjsua2's Endpoint; a closed TCP/TLS connection goes to `lost(reason, remote)` (pump
    thread; `remote` is the far end's address where pjsip knows it, TLS only, else "")."""

    def __init__(self, lost: Callable[[str, str], None]) -> None:
        super().__init__()
        self.lost = lost

    def onTransportState(self, prm: pj.OnTransportStateParam) -> None:  # noqa: N802
        if prm.state != pj.PJSIP_TP_STATE_DISCONNECTED:
            return
        try:
            reason = self.utilStrError(prm.lastError) if prm.lastError else "closed"
        except pj.Error:
            reason = f"error {prm.lastError}"
        try:
            tls = prm.tlsInfo
            remote = "" if tls.isEmpty() else str(tls.remoteAddr or "")
        except (AttributeError, pj.Error):
            remote = ""
        try:
            self.lost(reason, remote)
        except Exception:  # noqa: BLE001, S110 - never out of a pjsua2 callback; lost() reports
            pass


def keepalive_options(idle_s: int) -> pj.SockOptParams:
    """SO_KEEPALIVE with `idle_s` of silence before probing: a registrar that vanished without
    closing the connection (host down, NAT forgot us) is noticed in idle_s + 15 s."""
    params = pj.SockOptParams()
    for level, name, value in (
        (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
        (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle_s),
        (socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPALIVE_PROBE_S),
        (socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPALIVE_PROBES),
    ):
        opt = pj.SockOpt()
        opt.level, opt.optName = level, name
        opt.setOptValInt(value)
        params.sockOpts.append(opt)
    return params


class PumpCollector:
    """Python's automatic cyclic garbage collection, moved onto the pump thread.

    `start()` turns automatic collection off for the process; `step()`, called between polls,
    runs the collection CPython would have run by itself (the generation whose count passed its
    threshold, gc.get_threshold), so any pjsua2 object freed by a collection is freed on the
    pump thread. CPython spaces full collections out on a large heap; here a full collection
    waits until it would take at most FULL_GC_SHARE of the time since the last one. `stop()`
    hands collection back to the interpreter (after libDestroy: nothing pjsua2 is left).
    One endpoint per process, so one collector; a process where something else turned the
    collector off is left as it was."""

    def __init__(self) -> None:
        self.active = False
        self.collections = [0, 0, 0]  # per generation, run by step()
        self._full_cost = 0.0
        self._full_at = 0.0

    def start(self) -> None:
        if gc.isenabled():
            gc.disable()
            self.active = True
            self._full_at = time.monotonic()

    def step(self) -> None:
        if not self.active:
            return
        counts, thresholds = gc.get_count(), gc.get_threshold()
        if not thresholds[0] or counts[0] <= thresholds[0]:
            return
        for gen in (2, 1, 0):
            if counts[gen] <= thresholds[gen]:
                continue
            if gen == 2:
                now = time.monotonic()
                if now - self._full_at < max(FULL_GC_MIN_GAP_S, self._full_cost / FULL_GC_SHARE):
                    continue
                gc.collect(2)
                self._full_at = time.monotonic()
                self._full_cost = self._full_at - now
            else:
                gc.collect(gen)
            self.collections[gen] += 1
            return

    def stop(self) -> None:
        if self.active:
            self.active = False
            gc.enable()


class Pump:
    """Owns the Endpoint and its thread; the owner's hooks run on that thread."""

    def __init__(
        self,
        *,
        port: int,
        bind: str = "",
        transport: str = "udp",
        audio: str = "null",
        owner: Owner,
        log_level: int = 1,
        log_file: str = "",
        tls: tuple[str, str, str, bool] = ("", "", "", True),
        public_address: str = "",
        stun_servers: tuple[str, ...] = (),
        keepalive_s: int = 30,
    ) -> None:
        self.port = port
        self.bind = bind
        self.transport = transport
        self.audio = audio
        self.owner = owner
        self.log_level = log_level
        self.log_file = log_file
        self.tls = tls  # (certificate, key, CA list, verify the server) for transport "tls"
        self.public_address = public_address  # NAT: put in Via/Contact instead of ours
        self.stun_servers = stun_servers  # NAT: pjsua learns its public address from these
        self.keepalive_s = keepalive_s  # tcp/tls: TCP keep-alive after this much silence
        self.ep: pj.Endpoint | None = None
        self._work: queue.Queue[Callable[[], None]] = queue.Queue(WORK_QUEUE)
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.died: BaseException | None = None  # what ended the pump thread early, if anything
        self._thread = threading.Thread(target=self._main, name="sip-pump", daemon=True)
        self.bound_port = 0
        self.collector = PumpCollector()

    # -- any thread ----------------------------------------------------------------------------

    def start(self) -> Pump:
        self._thread.start()
        # pjsua waits for its STUN servers before the transport exists: one that never
        # answers costs STUN's ~8 s transaction timeout, in turn
        limit = START_TIMEOUT_S + STUN_TIMEOUT_S * len(self.stun_servers)
        self._ready.wait(limit)
        if self._error is not None:
            raise ServiceError(f"cannot start the SIP endpoint: {self._error}")
        if not self._ready.is_set():
            raise ServiceError(f"the SIP endpoint did not start within {limit:g} s")
        return self

    @property
    def on_pump(self) -> bool:
        return threading.current_thread() is self._thread

    def post(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the pump thread soon (fire and forget)."""
        if self.on_pump:
            self.later(0, fn)
            return
        try:
            self._work.put_nowait(fn)
        except queue.Full:
            raise ServiceError("the SIP endpoint is overloaded; try again") from None

    def run(self, fn: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Run `fn` on the pump thread and return its result (or raise its exception)."""
        if self.on_pump:
            return fn()
        fut: Future[Any] = Future()

        def job() -> None:
            if fut.set_running_or_notify_cancel():
                try:
                    fut.set_result(fn())
                except BaseException as exc:  # handed to the caller's thread
                    fut.set_exception(exc)

        if not self._thread.is_alive():
            raise ServiceError("the SIP endpoint is not running")
        self.post(job)
        return fut.result(timeout)

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- pump thread ---------------------------------------------------------------------------

    def later(self, delay_s: float, fn: Callable[[], None]) -> None:
        """Run `fn` on the pump thread after `delay_s` (call from the pump thread)."""
        heapq.heappush(self._timers, (time.monotonic() + delay_s, next(self._seq), fn))

    def _main(self) -> None:
        self.collector.start()  # before the first pjsua2 object exists
        try:
            self._create()
        except BaseException as exc:  # reported by start()
            self._error = exc
            if self.ep is not None:
                self.owner.release()  # drop what setup made before the library goes
            self._destroy()
            self.collector.stop()
            self._ready.set()
            return
        self._ready.set()
        try:
            while not self._stop.is_set():
                self._step()
            self._shutdown()
        except BaseException as exc:  # noqa: BLE001 - the owner's watcher (pump.died) reports it
            self.died = exc
            try:  # drop the owner's pjsua2 objects here, while the library is still up: freed
                self.owner.release()  # later on another thread, pjsua would assert
            except BaseException as again:  # noqa: BLE001 - reported with the first failure
                exc.add_note(f"releasing the calls failed too: {again!r}")
        finally:
            self._destroy()
            self.collector.stop()

    def _guarded(self, fn: Callable[[], None], where: str) -> None:
        """Work that escaped its own containment: reported to the owner, the pump goes on."""
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - reported via owner.failed, never silent
            self.owner.failed(exc, where)

    def _step(self) -> None:
        assert self.ep is not None
        self.ep.libHandleEvents(POLL_MS)
        while True:
            try:
                fn = self._work.get_nowait()
            except queue.Empty:
                break
            self._guarded(fn, "posted work")
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            self._guarded(heapq.heappop(self._timers)[2], "timer")
        self.collector.step()

    def _create(self) -> None:
        ep = _Endpoint(self.owner.connection_lost)
        ep.libCreate()
        self.ep = ep
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.userAgent = "softphone-assist"
        cfg.uaConfig.maxCalls = MAX_CALLS
        for server in self.stun_servers:
            cfg.uaConfig.stunServer.append(server)
        cfg.uaConfig.stunIgnoreFailure = True  # no STUN answer: go on with local addresses
        cfg.logConfig.level = self.log_level
        cfg.logConfig.consoleLevel = 0 if self.log_file else self.log_level
        cfg.logConfig.filename = self.log_file
        analysis_media(cfg)
        ep.libInit(cfg)
        tcfg = pj.TransportConfig()
        tcfg.port = self.port
        tcfg.boundAddress = self.bind
        tcfg.publicAddress = self.public_address
        kind = {"tcp": pj.PJSIP_TRANSPORT_TCP, "tls": pj.PJSIP_TRANSPORT_TLS}.get(
            self.transport, pj.PJSIP_TRANSPORT_UDP
        )
        if self.transport == "tls":
            cert, key, ca, verify = self.tls
            tcfg.tlsConfig.certFile, tcfg.tlsConfig.privKeyFile = cert, key
            tcfg.tlsConfig.CaListFile = ca
            tcfg.tlsConfig.verifyServer = verify
            # the wheel's OpenSSL 1.0.2k would also speak TLS 1.0 and 1.1 to a server that
            # offers no better (a downgrade): TLS 1.2 at least (1.3 once a build has it)
            tcfg.tlsConfig.proto = pj.PJ_SSL_SOCK_PROTO_TLS1_2 | pj.PJ_SSL_SOCK_PROTO_TLS1_3
            tcfg.tlsConfig.sockOptParams = keepalive_options(self.keepalive_s)
        elif self.transport == "tcp":
            tcfg.sockOptParams = keepalive_options(self.keepalive_s)
        if self.transport == "udp+tcp":  # the recording server: TCP on the same port too
            self.bound_port = self._listen_both(ep, tcfg)
        else:
            tid = self._listen(ep, kind, tcfg, self.port)
            self.bound_port = _port_of(ep, tid)
        ep.libStart()
        if self.audio == "null":
            ep.audDevManager().setNullDev()
        self.owner.setup(ep, self.bound_port)

    def _listen_both(self, ep: pj.Endpoint, tcfg: pj.TransportConfig) -> int:
        """UDP and TCP on one port; its number. With port 0 (any free port), the port the OS
        gives UDP may be taken for TCP (on a busy machine, the local end of some outgoing
        connection): that UDP transport is closed and another port tried."""
        for attempt in range(BOTH_TRIES):
            tcfg.port = self.port
            udp = self._listen(ep, pj.PJSIP_TRANSPORT_UDP, tcfg, self.port)
            port = tcfg.port = _port_of(ep, udp)
            try:
                self._listen(ep, pj.PJSIP_TRANSPORT_TCP, tcfg, port)
            except ServiceError:
                if self.port != 0 or attempt == BOTH_TRIES - 1:
                    raise
                ep.transportClose(udp)
                continue
            return port
        raise AssertionError("unreachable")  # the last try returns or raises

    def _listen(self, ep: pj.Endpoint, kind: int, tcfg: pj.TransportConfig, port: int) -> int:
        try:
            return int(ep.transportCreate(kind, tcfg))
        except pj.Error as exc:
            name = {pj.PJSIP_TRANSPORT_TCP: "tcp", pj.PJSIP_TRANSPORT_TLS: "tls"}.get(kind, "udp")
            where = f"{self.bind or 'all interfaces'} port {port} ({name})"
            raise ServiceError(f"cannot listen for SIP on {where}: {exc.reason}") from None

    def _shutdown(self) -> None:
        """Hang up and pump until the calls are gone (bounded), so BYEs really go out."""
        assert self.ep is not None
        self.owner.closing()
        self.ep.hangupAllCalls()
        deadline = time.monotonic() + SHUTDOWN_DRAIN_S
        while time.monotonic() < deadline:
            self._step()
            if self.owner.idle():
                break
        self.owner.release()
        for _ in range(10):  # let the last BYE/unREGISTER transactions go out
            self.ep.libHandleEvents(POLL_MS)

    def _destroy(self) -> None:
        self._timers.clear()
        if self.ep is not None:
            try:
                self.ep.libDestroy()
            except pj.Error:
                pass  # already half-destroyed after a failed start: nothing left to free
            self.ep = None


def _port_of(ep: pj.Endpoint, tid: int) -> int:
    """The local port a transport listens on."""
    return int(ep.transportGetInfo(tid).localName.rsplit(":", 1)[-1])
