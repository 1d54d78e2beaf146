"""A part that dies is said once and told to every live call; a call's own errors are lines."""

from __future__ import annotations

import io

from conftest import timeline

from assist.commands.failures import ErrorLines, Failures, call_outcome
from assist.core.audio import FRAME_SAMPLES
from assist.core.events import Error, Event
from assist.core.session import CallSession
from assist.runtime.control import CallRegistry
from assist.runtime.packs import default_pack
from assist.runtime.runner import CallRunner, ListSink


def live_call(registry: CallRegistry, call_id: str, sinks: list) -> CallRunner:  # type: ignore[type-arg]
    runner = CallRunner(CallSession(call_id, pack=default_pack("en")), sinks, block=True)
    registry.add(runner.start())
    return runner


def test_a_dead_part_is_one_line_and_an_error_event_in_every_live_call() -> None:
    registry, out = CallRegistry(), io.StringIO()
    failures = Failures(registry, out=out)
    seen = [ListSink(), ListSink()]
    runners = [
        live_call(registry, f"c{i}", [seen[i], ErrorLines(failures, out=out)]) for i in (0, 1)
    ]
    failures.part("overlay", "the overlay server stopped (boom)", then="the call goes on")
    failures.part("overlay", "the overlay server stopped (again)", then="the call goes on")
    for r in runners:
        r.finish()
    assert out.getvalue() == "assist: error: the overlay server stopped (boom); the call goes on\n"
    for sink in seen:
        errors = [e.data for e in sink.events if isinstance(e.data, Error)]
        assert errors == [Error("overlay", "the overlay server stopped (boom)", True)]
    assert failures.parts == {"overlay": "the overlay server stopped (boom)"}


def test_a_calls_own_errors_are_lines_as_they_happen_and_the_outcome_adds_nothing() -> None:
    out = io.StringIO()
    lines = ErrorLines(out=out)

    class Broken:
        name = "broken"

        def send(self, event: Event) -> None:
            if event.seq == 2:
                raise OSError(28, "No space left on device")

        def close(self) -> None:
            raise OSError(5, "Input/output error")

    runner = CallRunner(CallSession("x", pack=default_pack("en")), [Broken(), lines], block=True)
    runner.start()
    a = timeline(1, [])
    for _ in range(a.shape[0] // FRAME_SAMPLES):
        runner.push(a[:FRAME_SAMPLES], a[:FRAME_SAMPLES])
    runner.finish()
    assert out.getvalue().splitlines() == [
        "assist: warning: call x: sink:broken: OSError(28, 'No space left on device'); "
        "the call goes on"
    ]
    assert call_outcome(runner, lines) is False  # detached mid-call: said already
    assert out.getvalue().count("\n") == 1


def test_an_analysis_failure_is_said_once_and_fails_the_call() -> None:
    out = io.StringIO()
    lines = ErrorLines(out=out)
    session = CallSession("y", pack=default_pack("en"))
    runner = CallRunner(session, [lines], block=True).start()

    def boom(s: CallSession) -> list[Event]:
        raise RuntimeError("a detector bug")

    runner.submit(boom)
    runner.finish()
    assert call_outcome(runner, lines) is True
    assert out.getvalue().splitlines() == [
        "assist: error: call y: session: RuntimeError('a detector bug'); "
        "the call's analysis stopped"
    ]
