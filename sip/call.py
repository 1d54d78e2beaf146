"""One SIP call and what hangs off it: its analysis runner, its taps and its bridge routes.

`SipCall` only forwards pjsua2's callbacks (on the pump thread) to its `Leg`. A `Leg` is a
customer call with an analysis session; a supervisor's call is a plain SipCall attached to it.
A leg exists before its runner (an incoming call rings while its analysis is built off the
pump thread): what it reports until `attach(runner)` is kept and handed over then.
Routes between named ends are applied by `Leg.rewire()` from sip/supervisor.py's table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pjsua2 as pj

from assist.core.audio import Samples
from assist.core.events import CallState, Error, Hangup
from assist.runtime.control import SuperviseMode
from assist.runtime.runner import CallRunner, Work
from sip.supervisor import Route, changes, routes
from sip.tap import RecorderTaps
from sip.tapfile import TapStream

MEDIA_STATES = {
    pj.PJSUA_CALL_MEDIA_ACTIVE: "active",
    pj.PJSUA_CALL_MEDIA_LOCAL_HOLD: "held",
    pj.PJSUA_CALL_MEDIA_REMOTE_HOLD: "held",
}


class SipCall(pj.Call):
    """pjsua2's Call; state and media changes go to `on_state(call)` / `on_media(call)`."""

    def __init__(
        self,
        acc: pj.Account,
        call_id: int = pj.PJSUA_INVALID_ID,
        *,
        on_state: Callable[[SipCall], None],
        on_media: Callable[[SipCall], None],
    ) -> None:
        super().__init__(acc, call_id)
        self.owner = ""  # the analysed call's id (for a supervisor: the call it supervises)
        self.role = "customer"
        self.on_state = on_state
        self.on_media = on_media
        self.connected = False  # reached CONFIRMED (a supervisor's call that never did failed)
        self.placed_at = 0.0  # monotonic time makeCall was asked (supervisor calls)

    @property
    def placed(self) -> bool:
        """pjsua has this call (an unplaced or finished call must not be asked anything:
        pjsua_call_get_info asserts on an invalid id and aborts the process)."""
        return bool(self.getId() != pj.PJSUA_INVALID_ID)

    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802 - pjsua2 override
        self.on_state(self)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802
        self.on_media(self)

    def audio(self) -> tuple[pj.AudioMedia | None, str]:
        """The call's audio on the bridge and its media state (active, held, none)."""
        if not self.placed:
            return None, "none"
        ci = self.getInfo()  # keep it alive: `.media` points into it (SWIG)
        for mi in ci.media:
            if mi.type == pj.PJMEDIA_TYPE_AUDIO:
                state = MEDIA_STATES.get(mi.status, "none")
                if state == "none":
                    return None, state
                return self.getAudioMedia(mi.index), state
        return None, "none"

    def codec(self) -> str:
        """The audio stream's codec as "name/clock rate" ("" without active audio)."""
        if not self.placed:
            return ""
        ci = self.getInfo()
        for mi in ci.media:
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                si = self.getStreamInfo(mi.index)
                return f"{si.codecName}/{si.codecClockRate}"
        return ""

    def rx_packets(self) -> int:
        """RTP packets received so far on the audio stream (media-timeout detection)."""
        if not self.placed:
            return -1
        ci = self.getInfo()
        for mi in ci.media:
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                stat = self.getStreamStat(mi.index)  # kept alive while its parts are read
                rtcp = stat.rtcp
                return int(rtcp.rxStat.pkt)
        return -1


class Leg:
    """A customer call under analysis (everything here runs on the pump thread)."""

    def __init__(
        self,
        call_id: str,
        call: SipCall,
        *,
        direction: str,
        remote: str,
        ep: pj.Endpoint,
        tap_dir: Path,
        silence: pj.AudioMedia,
        agent_play: str = "",
        record_dir: str = "",
    ) -> None:
        self.call_id = call_id
        self.call = call
        self.runner: CallRunner | None = None
        self._pending: list[Work] = []  # session work reported before the runner existed
        self.answer_wanted = False  # answer (200) as soon as the runner is attached
        self.connected = False  # the call reached CONFIRMED at least once
        self.finished = False
        # who hung up when our side did: "agent" (the overlay's Hang up), "unknown" (a timeout,
        # shutdown); "" = the remote party's BYE, the customer's
        self.hung_up_by = ""
        self.hangup_noted = False
        self.codec = ""  # negotiated audio codec, as last reported
        self.extras_failed = False  # the agent_play player or the ear recorder failed
        self.direction = direction
        self.remote = remote
        self.ep = ep
        self.agent_play = agent_play
        self.record_dir = record_dir
        self.taps = RecorderTaps(tap_dir, call_id, self._push, silence)
        self.taps.stream.on_drop = self._dropped
        self.taps.stream.on_fail = self._tap_failed
        self.player: pj.AudioMediaPlayer | None = None
        self.recorder: pj.AudioMediaRecorder | None = None
        self.supervisor: SipCall | None = None
        self.supervisor_uri = ""
        self.supervisor_name = ""  # who asked (their token's name): what events name
        self.mode: SuperviseMode | None = None
        self.applied: frozenset[Route] = frozenset()
        self.state = ""
        self.end_reason = "hangup"
        self.timeout_reason = ""  # our own wording of why the call ended (timeouts, refusals)
        self.last_rx = (-1, time.monotonic())

    def attach(self, runner: CallRunner) -> None:
        self.runner = runner
        for work in self._pending:
            runner.submit(work)
        self._pending.clear()

    def submit(self, work: Work) -> None:
        if self.runner is None:
            self._pending.append(work)
        else:
            self.runner.submit(work)

    def _push(self, agent: Samples, customer: Samples) -> None:
        """Tap reader thread: frames before the runner exists (none in practice: the call is
        answered once it is attached) are not analysed."""
        runner = self.runner
        if runner is not None:
            runner.push(agent, customer)

    def _dropped(self, frames: int) -> None:
        """Tap reader thread: it fell too far behind and skipped audio."""
        runner = self.runner
        if runner is not None:
            runner.count_dropped(frames)

    def _tap_failed(self, message: str) -> None:
        """Tap reader thread: this call's taps are lost; the call goes on, unanalysed."""
        err = Error(source="taps", message=message, recoverable=True)
        self.submit(lambda s: s.note(err))

    def note_hangup(self, how: str) -> None:
        """A connected call is ending: who hung up, for the call-shape checklist (before the
        `ended` state). A call never answered has no hang-up to judge."""
        if not self.connected or self.hangup_noted:
            return
        self.hangup_noted = True
        by = self.hung_up_by or "customer"
        data = Hangup(by=by, how=how)  # type: ignore[arg-type]
        self.submit(lambda s: s.note(data))

    def note_state(self, state: str, reason: str = "", code: int | None = None) -> None:
        if state == self.state:
            return
        self.state = state
        data = CallState(
            state=state,  # type: ignore[arg-type]
            direction=self.direction,  # type: ignore[arg-type]
            remote=self.remote,
            reason=reason,
            code=code,
        )
        self.submit(lambda s: s.note(data))

    # -- media ---------------------------------------------------------------------------------

    def _ends(self, *, create: bool = True) -> dict[str, list[Any]]:
        try:
            customer, _ = self.call.audio()
        except pj.Error:
            customer = None
        adm = self.ep.audDevManager()
        if create and not self.extras_failed:
            try:
                self._make_extras()
            except (pj.Error, OSError):
                self.extras_failed = True  # once: the call goes on without player/recorder
                raise
        ear: list[Any] = [adm.getPlaybackDevMedia()]
        if self.recorder is not None:
            ear.append(self.recorder)
        try:
            sup = self.supervisor.audio()[0] if self.supervisor is not None else None
        except pj.Error:
            sup = None
        ends: dict[str, list[Any]] = {
            "customer": [customer] if customer is not None else [],
            "agent": [self.player if self.player is not None else adm.getCaptureDevMedia()],
            "ear": ear,
            "supervisor": [sup] if sup is not None else [],
            **{k: [v] for k, v in self.taps.ports.items()},
        }
        return ends

    def _make_extras(self) -> None:
        if self.agent_play and self.player is None:
            player = pj.AudioMediaPlayer()
            player.createPlayer(self.agent_play, pj.PJMEDIA_FILE_NO_LOOP)
            self.player = player
        if self.record_dir and self.recorder is None:
            Path(self.record_dir).mkdir(parents=True, exist_ok=True)
            recorder = pj.AudioMediaRecorder()
            recorder.createRecorder(str(Path(self.record_dir) / f"{self.call_id}-ear.wav"))
            self.recorder = recorder

    def rewire(self) -> None:
        """Bring the bridge to the routes this call needs now (after media or mode changes).
        A player or recorder that cannot be made is raised after the call's own routes are
        up: the call and its analysis go on, the failure becomes the call's `error` event."""
        try:
            ends = self._ends()
            failure: BaseException | None = None
        except (pj.Error, OSError) as exc:
            ends, failure = self._ends(create=False), exc
        live = {name for name, media in ends.items() if media}
        supervisor_up = "supervisor" in live
        want = routes(self.mode if supervisor_up else None)
        want = frozenset(r for r in want if r[0] in live and r[1] in live)
        stop, start = changes(self.applied, want)
        for src, dst in stop:
            for a in ends.get(src, []):
                for b in ends.get(dst, []):
                    a.stopTransmit(b)
        for src, dst in start:
            for a in ends[src]:
                for b in ends[dst]:
                    a.startTransmit(b)
        self.applied = want
        if failure is not None:
            try:
                raise failure
            finally:
                # no cycle frame -> failure -> traceback -> frame: it would keep this leg's
                # pjsua2 objects alive until a garbage collection on whatever thread runs
                # it, and pjsua asserts when one is freed off the SIP thread
                failure = None

    def release(self) -> TapStream:
        """Disconnect everything, destroy the tap writers and hand back their stream, which
        the tap reader reads to its end (pump thread)."""
        ends = self._ends(create=False)
        for src, dst in self.applied:
            for a in ends.get(src, []):
                for b in ends.get(dst, []):
                    try:
                        a.stopTransmit(b)
                    except pj.Error:
                        pass  # that end's media is already gone with the call
        self.applied = frozenset()
        self.player = None
        self.recorder = None
        return self.taps.release()
