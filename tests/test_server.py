"""The overlay server on a real socket: pages, tokens and roles, Origin, feedback, supervise."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from conftest import noise, timeline
from overlay_calls import PROMPT_AT, LiveCall, alert_pack
from waits import wait_until
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from assist.core.audio import FRAME_SAMPLES
from assist.core.session import CallSession
from assist.runtime.control import CallRegistry
from assist.runtime.packs import default_pack
from assist.runtime.runner import CallRunner
from overlay.server import HubSink, OverlayServer


def ws_url(srv: OverlayServer, role: str = "supervisor") -> str:
    p = srv.config.supervisors[0] if role == "supervisor" else srv.config.agents[0]
    return f"ws://127.0.0.1:{srv.port}/ws?token={p.token}"


def play_call(srv: OverlayServer, call_id: str = "c1", agent: str = "") -> None:
    session = CallSession(call_id, pack=default_pack("en"), agent=agent)
    runner = CallRunner(session, [HubSink(srv)], block=True).start()
    a, c = timeline(12, [(0.5, 2.0)]), noise(12)
    for i in range(a.shape[0] // FRAME_SAMPLES):
        sl = slice(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES)
        runner.push(a[sl], c[sl])
    runner.finish()


async def recv_until(ws: ClientConnection, pred: Any, within_s: float = 10) -> list[dict[str, Any]]:
    """Messages up to and including the first for which `pred(msg)` (or type == pred) holds."""
    test = pred if callable(pred) else (lambda m: m.get("type") == pred)
    got = []
    async with asyncio.timeout(within_s):
        while True:
            msg = json.loads(await ws.recv())
            got.append(msg)
            if test(msg):
                return got


async def reply(ws: ClientConnection) -> dict[str, Any]:
    """The next `result` or protocol `error` (no seq), skipping events and board updates."""
    msgs = await recv_until(ws, lambda m: m["type"] in ("result", "error") and "seq" not in m)
    return msgs[-1]


def settled(srv: OverlayServer, timeout: float = 30.0) -> None:
    """Every `publish()` made so far has reached the hub: publishes are callbacks on the
    server's loop, run in order, so one more after them runs last (a wait on the event itself,
    not a sleep that a loaded machine outlasts)."""
    assert srv.loop is not None
    done = threading.Event()
    srv.loop.call_soon_threadsafe(done.set)
    assert done.wait(timeout), "the server's loop did not get to it"


async def subscribe(ws: ClientConnection, **fields: Any) -> list[dict[str, Any]]:
    """Subscribe and wait until the server has taken it: it answers a client's messages in
    order, so the reply to a probe sent after the subscribe comes once that is done. Returns
    what arrived meanwhile (the probe's own reply last)."""
    await ws.send(json.dumps({"type": "subscribe", **fields}))
    await ws.send(json.dumps({"type": "no_such_type", "id": "subscribed"}))
    return await recv_until(ws, lambda m: m.get("id") == "subscribed" and "seq" not in m)


def in_thread(fn: Any, *args: Any) -> asyncio.Future[Any]:
    """Run `fn` on a worker thread, starting now (the call pushes frames while we read)."""
    return asyncio.get_running_loop().run_in_executor(None, fn, *args)


def test_pages_are_served_and_unknown_paths_404(server: OverlayServer) -> None:
    for path, marker in (("", b"<title>"), ("supervisor", b"supervisor.js")):
        with urllib.request.urlopen(server.url + path) as r:
            assert r.status == 200 and marker in r.read()
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(server.url + "static/../../etc/passwd")
    assert err.value.code == 404


async def test_client_receives_hello_then_the_prompt_live(server: OverlayServer) -> None:
    async with connect(ws_url(server)) as ws:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello" and hello["v"] == 1 and hello["protocol"] == 1
        assert hello["telephony"] is False  # DemoControl: no phone behind this server
        assert hello["role"] == "supervisor"
        before = await subscribe(ws)
        player = in_thread(play_call, server)
        got = before[:-1] + await recv_until(ws, "call_ended")
        await player
    events = [m for m in got if "seq" in m]
    prompts = [m for m in events if m["type"] == "prompt"]
    assert [p["data"]["rule"] for p in prompts] == ["customer_silence"]
    seqs = [m["seq"] for m in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


async def test_late_client_resumes_from_its_last_seq_without_duplicates(
    server: OverlayServer,
) -> None:
    await in_thread(play_call, server, "c2")
    async with connect(ws_url(server)) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "subscribe"}))
        everything = [m for m in await recv_until(ws, "call_ended") if "seq" in m]
    cut = everything[len(everything) // 2]["seq"]
    async with connect(ws_url(server)) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "subscribe", "since": {"c2": cut}}))
        rest = [m for m in await recv_until(ws, "call_ended") if "seq" in m]
    assert [m["seq"] for m in rest] == [m["seq"] for m in everything if m["seq"] > cut]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "bad_message"),
        ("[1,2]", "bad_message"),
        ('{"type":"dance"}', "unknown_type"),
        ('{"type":"subscribe","since":{"c":"x"}}', "bad_message"),
        ('{"type":"feedback","call_id":"c","prompt_id":"p","verdict":"meh"}', "bad_message"),
        ('{"type":"supervise","call_id":"c","mode":"shout"}', "bad_message"),
        ('{"type":"subscribe","pad":"' + "x" * 20_000 + '"}', "too_large"),
        (b"\x00\x01", "bad_message"),
    ],
)
async def test_bad_messages_get_an_error_and_the_connection_stays(
    server: OverlayServer, raw: str | bytes, code: str
) -> None:
    async with connect(ws_url(server)) as ws:
        await ws.recv()
        await ws.send(raw)
        err = await reply(ws)
        assert err["type"] == "error" and err["code"] == code and err["error"]
        await ws.send(json.dumps({"type": "subscribe", "id": 7}))  # still usable
        await ws.send(json.dumps({"type": "dance", "id": "x1"}))
        err = await reply(ws)
        assert err["code"] == "unknown_type" and err["id"] == "x1"


@pytest.mark.parametrize("token", ["", "?token=wrong-token-of-some-length"])
async def test_missing_or_wrong_token_is_refused_with_4401(
    server: OverlayServer, token: str
) -> None:
    async with connect(f"ws://127.0.0.1:{server.port}/ws{token}") as ws:
        err = json.loads(await ws.recv())
        assert err == {"type": "error", "code": "unauthorized", "error": "missing or unknown token"}
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_foreign_origin_is_refused_and_our_own_accepted(server: OverlayServer) -> None:
    with pytest.raises(InvalidStatus) as err:
        async with connect(ws_url(server), origin="http://evil.example:8765"):  # type: ignore[arg-type]
            pass
    assert err.value.response.status_code == 403
    with pytest.raises(InvalidStatus):  # right host, wrong port: another local page
        async with connect(ws_url(server), origin="http://127.0.0.1:1"):  # type: ignore[arg-type]
            pass
    own = f"http://localhost:{server.port}"
    async with connect(ws_url(server), origin=own) as ws:  # type: ignore[arg-type]
        assert json.loads(await ws.recv())["type"] == "hello"


async def test_agent_token_sees_only_its_own_calls(server: OverlayServer) -> None:
    await in_thread(play_call, server, "mine", "demo-agent")
    await in_thread(play_call, server, "theirs", "bob")
    async with connect(ws_url(server, "agent")) as ws:
        hello = json.loads(await ws.recv())
        assert hello["role"] == "agent" and hello["calls"] == ["mine"]
        await ws.send(json.dumps({"type": "subscribe"}))
        got = await recv_until(ws, "call_ended")
        assert {m["call_id"] for m in got} == {"mine"}
        await ws.send(json.dumps({"type": "subscribe", "call_id": "theirs"}))
        assert (await reply(ws))["code"] == "forbidden"
        await ws.send(json.dumps({"type": "supervise", "call_id": "mine", "mode": "listen"}))
        assert (await reply(ws))["code"] == "forbidden"


async def test_feedback_is_recorded_in_the_calls_stream_and_clears_the_card(
    server: OverlayServer, registry: CallRegistry
) -> None:
    call = LiveCall(server, registry, "fb")
    try:
        async with connect(ws_url(server, "agent")) as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "subscribe"}))
            await in_thread(call.play_to, PROMPT_AT + 0.5)
            prompt = (await recv_until(ws, "prompt"))[-1]
            pid = prompt["data"]["prompt_id"]
            bad = {"type": "feedback", "call_id": "fb", "prompt_id": "nope-9", "verdict": "done"}
            await ws.send(json.dumps(bad))
            assert (await reply(ws))["code"] == "unknown_prompt"
            fb = {"type": "feedback", "id": 1, "call_id": "fb", "prompt_id": pid}
            await ws.send(json.dumps(fb | {"verdict": "done"}))
            got = await recv_until(ws, "prompt_cleared")
        assert {"type": "result", "ok": True, "message": "feedback recorded: done", "id": 1} in got
        feedback = [m for m in got if m["type"] == "feedback"]
        assert feedback[0]["data"] == {
            "prompt_id": pid,
            "rule": "customer_silence",
            "verdict": "done",
            "client": "agent:demo-agent",
        }
        assert got[-1]["data"]["reason"] == "acknowledged"
    finally:
        await in_thread(call.finish)
    assert "feedback" in call.types()  # in the call's own stream (JSONL, store), not just ours


async def test_feedback_for_a_call_that_is_not_live_is_an_error(server: OverlayServer) -> None:
    await in_thread(play_call, server, "gone")
    async with connect(ws_url(server)) as ws:
        await ws.recv()
        msg = {"type": "feedback", "call_id": "gone", "prompt_id": "customer_silence-1"}
        await ws.send(json.dumps(msg | {"verdict": "not_helpful"}))
        assert (await reply(ws))["code"] == "no_such_call"


async def test_supervise_in_demo_mode_says_so_and_is_recorded(
    server: OverlayServer, registry: CallRegistry
) -> None:
    call = LiveCall(server, registry, "sv")
    try:
        await in_thread(call.play_to, 1.0)
        async with connect(ws_url(server)) as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "subscribe", "call_id": "sv"}))
            await ws.send(
                json.dumps({"type": "supervise", "id": "b1", "call_id": "sv", "mode": "barge"})
            )
            err = (await recv_until(ws, lambda m: m.get("type") == "error"))[-1]
            assert err["code"] == "control_failed" and err["id"] == "b1"
            assert "not available in demo mode" in err["error"]
            action = (await recv_until(ws, "supervisor_action"))[-1]
            assert action["data"]["mode"] == "barge" and action["data"]["ok"] is False
    finally:
        await in_thread(call.finish)


async def test_answer_hangup_and_dial_in_demo_mode_say_so(
    server: OverlayServer, registry: CallRegistry
) -> None:
    call = LiveCall(server, registry, "ah")
    try:
        await in_thread(call.play_to, 1.0)
        async with connect(ws_url(server)) as ws, connect(ws_url(server, "agent")) as agent:
            await ws.recv()
            await agent.recv()
            for i, (conn, msg) in enumerate(
                [
                    (ws, {"type": "answer", "call_id": "ah"}),
                    (ws, {"type": "hangup", "call_id": "ah"}),
                    (agent, {"type": "dial", "uri": "sip:bob@127.0.0.1"}),  # the softphone's
                ]
            ):
                ref = f"c{i}"
                await conn.send(json.dumps({**msg, "id": ref}))
                err = (await recv_until(conn, lambda m, ref=ref: m.get("id") == ref))[-1]
                assert err["type"] == "error" and err["code"] == "control_failed"
                assert "not available in demo mode" in err["error"]
            await ws.send(json.dumps({"type": "answer", "call_id": "nope", "id": "x"}))
            err = (await recv_until(ws, lambda m: m.get("id") == "x"))[-1]
            assert err["code"] == "no_such_call"
    finally:
        await in_thread(call.finish)


async def test_supervisor_board_flags_a_call_with_an_alert_prompt(
    server: OverlayServer, registry: CallRegistry
) -> None:
    calm = LiveCall(server, registry, "calm", agent="bob")
    hot = LiveCall(server, registry, "hot", pack=alert_pack())
    try:
        await in_thread(calm.play_to, 3.0)
        await in_thread(hot.play_to, PROMPT_AT + 0.5)
        async with connect(ws_url(server)) as ws:
            await ws.recv()

            def flagged(m: dict[str, Any]) -> bool:
                return m.get("type") == "calls" and any(c["flagged"] for c in m["calls"])

            board = (await recv_until(ws, flagged))[-1]["calls"]
        assert [c["call_id"] for c in board] == ["hot", "calm"]
        assert board[0]["flag_reason"] == "alert"
        assert board[0]["flags"][0]["rule"] == "customer_silence"
        assert board[0]["last_prompt"]["severity"] == "alert" and not board[1]["flagged"]
    finally:
        await in_thread(calm.finish)
        await in_thread(hot.finish)


async def test_a_stalled_client_is_dropped_and_never_slows_the_others(
    registry: CallRegistry,
) -> None:
    """A client that stops reading fills its bounded queue and is cut off; a reading client on
    the same server gets every event. (Events are pushed in small bursts, as a call does.)"""
    from assist.core.events import Event, Prompt
    from overlay.auth import OverlayConfig

    srv = OverlayServer(config=OverlayConfig(port=0, client_queue=32), registry=registry).start()
    try:
        token = srv.config.supervisors[0].token
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        writer.write(
            f"GET /ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        sub = json.dumps({"type": "subscribe"}).encode()
        writer.write(bytes([0x81, 0x80 | len(sub)]) + b"\0\0\0\0" + sub)  # masked, zero key
        await writer.drain()
        async with connect(ws_url(srv), max_size=None) as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "subscribe"}))
            await in_thread(wait_until, lambda: srv.clients == 2, 10.0)
            n, text = 800, "x" * 8000  # 6.4 MB: more than the socket buffers hold
            # The pusher keeps at most `ahead` events past what the reader has taken, so the
            # reader is never behind by its own fault (a test thread starved on a loaded machine
            # is not what is measured): if the stalled client held the server up, the reader
            # would stop getting events and the pusher's wait would fail.
            ahead, taken = 8, [-1]

            def publish() -> None:
                for seq in range(n):
                    wait_until(lambda s=seq: taken[0] >= s - ahead, 10.0, 0.002, f"reader at {seq}")
                    data = Prompt(prompt_id=f"p-{seq}", rule="r", text=text, severity="info")
                    srv.publish(Event("burst", seq, seq / 10, data))

            def took(m: dict[str, Any]) -> bool:
                taken[0] = m.get("seq", taken[0])
                return m.get("seq") == n - 1

            pusher = in_thread(publish)
            got = await recv_until(ws, took)
            await pusher
            assert [m["seq"] for m in got if "seq" in m] == list(range(n))
        # the stalled one is gone (closed 1013, or aborted when its socket is stuck)
        await in_thread(wait_until, lambda: srv.clients == 0, 10.0)
        writer.close()
    finally:
        srv.stop()


def test_a_server_that_dies_after_start_tells_its_owner(registry: CallRegistry) -> None:
    """Its error used to be kept in `_error`, which nobody read after start()."""
    died: list[BaseException] = []
    srv = OverlayServer(port=0, registry=registry)
    srv.failed = died.append
    srv.start()
    try:
        loop = srv.loop
        assert loop is not None
        loop.call_soon_threadsafe(lambda: [t.cancel() for t in asyncio.all_tasks(loop)])
        wait_until(lambda: died, 5)
    finally:
        srv.stop()
    assert isinstance(srv.died, asyncio.CancelledError) and died == [srv.died]


def test_a_stopped_server_has_not_died(registry: CallRegistry) -> None:
    died: list[BaseException] = []
    srv = OverlayServer(port=0, registry=registry)
    srv.failed = died.append
    srv.start().stop()
    assert srv.died is None and not died


def test_a_server_that_does_not_start_in_time_is_an_error_and_stops_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """start() used to wait 10 s and then return as if the server were up."""
    from assist.core.errors import ServiceError

    monkeypatch.setattr("overlay.server.START_WAIT_S", 0.2, raising=False)
    srv = OverlayServer(port=0)
    serve = srv._serve
    gave_up = threading.Event()

    async def slow() -> None:
        # a loaded machine: listening only after start() gave up
        await asyncio.get_running_loop().run_in_executor(None, gave_up.wait, 30)
        await serve()

    srv._serve = slow  # type: ignore[method-assign]
    t0 = time.monotonic()
    try:
        with pytest.raises(ServiceError, match="did not start within"):
            srv.start()
    finally:
        gave_up.set()
    assert time.monotonic() - t0 < 5
    assert srv._thread is not None
    srv._thread.join(5)  # once up, it stops by itself: nobody will stop it
    assert not srv._thread.is_alive() and srv.died is None


def test_a_board_expiry_that_fails_ends_the_server_and_tells_its_owner(
    registry: CallRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The expiry task is one of the server's own: its death is not silent either."""
    monkeypatch.setattr("overlay.server.EXPIRE_EVERY_S", 0.05)
    died: list[BaseException] = []
    srv = OverlayServer(port=0, registry=registry)
    srv.failed = died.append

    def expire() -> bool:
        raise RuntimeError("board bug")

    srv.board.expire = expire  # type: ignore[method-assign]
    srv.start()
    try:
        wait_until(lambda: died, 5)
    finally:
        srv.stop()
    assert [repr(e) for e in died] == ["RuntimeError('board bug')"]
