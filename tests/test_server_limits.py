"""The overlay server under hostile and heavy clients, on a real socket (issue 17, issue 11).

Each test plays the attacker against a live server on a free loopback port, with a
well-behaved client alongside where it matters: a feedback flood, never-reading backlog
subscribers, a lone surrogate, an agent during silent monitoring, HTTP edge cases, and
connections without limit.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import socket
import struct
import time
from typing import Any

import pytest
from overlay_calls import PROMPT_AT, LiveCall
from test_server import in_thread, recv_until, reply, settled, wait_until, ws_url
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from assist.core.events import CallStarted, Event, Meters, SpeakerMeters, Transcript
from assist.runtime.control import CallRegistry
from overlay.auth import OverlayConfig
from overlay.hub import Hub
from overlay.server import HANDSHAKE_TIMEOUT_S, OverlayServer


def meters(call_id: str, seq: int) -> Event:
    sm = SpeakerMeters(speaking=False, talk_share=0.5, level_dbfs=-20, noise_dbfs=-60)
    return Event(call_id, seq, seq / 50, Meters(agent=sm, customer=sm, silence_s=0))


async def raw_ws(port: int, token: str, first: dict[str, Any] | None = None) -> Any:
    """A websocket client that never reads: a tiny receive buffer set before connecting,
    the upgrade, and optionally one (masked) message. Returns the stream writer."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    _, writer = await asyncio.open_connection(sock=sock)
    writer.write(
        f"GET /ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    if first is not None:
        payload = json.dumps(first).encode()
        assert len(payload) < 126
        writer.write(bytes([0x81, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
    await writer.drain()
    return writer


def http_status(port: int, method: str, path: str, headers: dict[str, str] | None = None) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


# -- 1. feedback flood ---------------------------------------------------------------------------


async def test_a_feedback_flood_is_recorded_once_and_spares_the_other_clients(
    server: OverlayServer, registry: CallRegistry
) -> None:
    call = LiveCall(server, registry, "flood")
    try:
        async with (
            connect(ws_url(server, "agent")) as flooder,
            connect(ws_url(server)) as page,
        ):
            await flooder.recv()
            await page.recv()
            await page.send(json.dumps({"type": "subscribe"}))
            await flooder.send(json.dumps({"type": "subscribe"}))
            await in_thread(call.play_to, PROMPT_AT + 0.5)
            pid = (await recv_until(flooder, "prompt"))[-1]["data"]["prompt_id"]
            fb = {"type": "feedback", "call_id": "flood", "prompt_id": pid, "verdict": "done"}
            n = 2_000
            for i in range(n):
                await flooder.send(json.dumps(fb | {"id": i}))
            got: list[dict[str, Any]] = []
            async with asyncio.timeout(30):
                while len(got) < n:
                    m = json.loads(await flooder.recv())
                    if m["type"] in ("result", "error") and "seq" not in m:
                        got.append(m)
            replies = got
            recorded = [m for m in replies if m.get("message") == "feedback recorded: done"]
            again = [m for m in replies if m.get("message") == "feedback already recorded: done"]
            limited = [m for m in replies if m.get("code") == "rate_limited"]
            assert len(recorded) == 1 and len(recorded) + len(again) + len(limited) == n
            assert limited, "a flood of 2000 messages at once must hit the rate limit"
            # the bucket refills; a changed verdict is recorded once. Each message is sent again
            # while it is still limited (a refused message changes nothing), up to a deadline.
            per_s = server.config.messages_per_s
            for i, verdict in enumerate(("not_helpful", "done", "not_helpful")):
                async with asyncio.timeout(30):
                    while True:
                        await flooder.send(json.dumps(fb | {"verdict": verdict, "id": f"v{i}"}))
                        answer = await reply(flooder)
                        if answer.get("code") != "rate_limited":
                            break
                        await asyncio.sleep(1 / per_s)
                assert answer.get("id") == f"v{i}", answer
                expected = "feedback recorded: not_helpful" if i == 0 else "already recorded"
                assert expected in answer["message"], answer
            await in_thread(call.finish)
            seen = await recv_until(page, "call_ended")  # never closed as "too slow"
    finally:
        if registry.get(call.call_id) is not None:
            await in_thread(call.finish)
    assert call.types().count("feedback") == 2  # JSONL, store and report see two, not 2000
    assert [m["data"]["verdict"] for m in seen if m["type"] == "feedback"] == [
        "done",
        "not_helpful",
    ]


async def test_chatter_never_evicts_the_calls_start_or_its_prompts(
    registry: CallRegistry,
) -> None:
    srv = OverlayServer(hub=Hub(history_per_call=500), port=0, registry=registry).start()
    call = LiveCall(srv, registry, "chatty")
    try:
        await in_thread(call.play_to, PROMPT_AT + 0.5)
        await in_thread(call.caught_up)
        await in_thread(settled, srv)
        last = max(e.seq for e in call.sink.events)
        for seq in range(last + 1, last + 5_000):  # chatter: far more than the history holds
            srv.publish(meters("chatty", seq))
        await in_thread(settled, srv)
        async with connect(ws_url(srv)) as late:  # a page opened afterwards
            await late.recv()
            await late.send(json.dumps({"type": "subscribe", "call_id": "chatty"}))
            got = await recv_until(late, lambda m: m.get("seq") == last + 4_999)
        events = [m for m in got if "seq" in m]
        assert events[0]["type"] == "call_started"
        assert [m["data"]["rule"] for m in events if m["type"] == "prompt"] == ["customer_silence"]
    finally:
        await in_thread(call.finish)
        srv.stop()


# -- 2. backlog replay -----------------------------------------------------------------------------


async def test_never_reading_backlog_subscribers_are_dropped_and_never_stall_the_others(
    registry: CallRegistry,
) -> None:
    srv = OverlayServer(port=0, registry=registry).start()
    try:
        text = "backlog " * 60
        for seq in range(20_000):  # an ended call with a full history (about 10 MB of JSON)
            srv.publish(Event("old", seq, seq / 10, Transcript("agent", "final", text)))
        await in_thread(settled, srv)
        token = srv.config.supervisors[0].token
        sub = {"type": "subscribe", "call_id": "old"}
        stalled = [await raw_ws(srv.port, token, sub) for _ in range(5)]
        async with connect(ws_url(srv)) as page:
            await page.recv()
            await page.send(json.dumps({"type": "subscribe", "call_id": "live"}))
            await in_thread(wait_until, lambda: srv.clients == 6, 10.0)

            def publish() -> None:
                srv.publish(
                    Event("live", 0, 0, CallStarted(lang="en", source="demo", sample_rate=1))
                )
                for seq in range(1, 400):
                    srv.publish(meters("live", seq) if seq % 2 else _final("live", seq))
                    time.sleep(0.02)

            pusher = in_thread(publish)
            # 8 s of pushing at 50 events/s: the budget allows for a loaded machine stretching
            # the pusher's own sleeps (10 s ran out that way), not for the server
            got = await recv_until(page, lambda m: m.get("seq") == 399, within_s=30)
            await pusher
            finals = [m["seq"] for m in got if m.get("type") == "transcript"]
            assert finals == list(range(2, 400, 2))  # every event that matters, in order
            # the five never-reading subscribers are cut off; the page stays
            await in_thread(wait_until, lambda: srv.clients == 1, 30.0)
            assert srv.dropped_stalled >= 5
            await page.send(json.dumps({"type": "no_such_type", "id": "still-here"}))
            assert (await reply(page))["id"] == "still-here"
        for w in stalled:
            w.close()
    finally:
        srv.stop()


def _final(call_id: str, seq: int) -> Event:
    return Event(call_id, seq, seq / 50, Transcript("customer", "final", f"line {seq}"))


# -- 3. a lone surrogate --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        '{"type":"x","id":"\\ud800"}',
        '{"type":"feedback","call_id":"\\udfff","prompt_id":"p","verdict":"done","id":1}',
        '{"type":"subscribe","since":{"\\ud800":1}}',
        '{"type":"dial","uri":"sip:\\ud800@x","id":2}',
    ],
)
async def test_a_lone_surrogate_gets_an_error_and_the_connection_stays(
    server: OverlayServer, raw: str
) -> None:
    async with connect(ws_url(server, "agent")) as ws:
        await ws.recv()
        await ws.send(raw)
        err = await reply(ws)
        assert err["type"] == "error" and err["code"] == "bad_message"
        await ws.send(json.dumps({"type": "dance", "id": "after"}))
        assert (await reply(ws)) == {
            "type": "error",
            "code": "unknown_type",
            "error": "unknown message type 'dance'",
            "id": "after",
        }


# -- 4. silent monitoring ------------------------------------------------------------------------


async def test_an_agent_never_learns_that_a_supervisor_is_listening(
    server: OverlayServer, registry: CallRegistry
) -> None:
    call = LiveCall(server, registry, "quiet")
    try:
        async with connect(ws_url(server, "agent")) as agent, connect(ws_url(server)) as sup:
            await agent.recv()
            await sup.recv()
            for ws in (agent, sup):
                await ws.send(json.dumps({"type": "subscribe", "call_id": "quiet"}))
            await in_thread(call.play_to, 1.0)
            await sup.send(json.dumps({"type": "supervise", "call_id": "quiet", "mode": "listen"}))
            action = (await recv_until(sup, "supervisor_action"))[-1]
            assert action["data"]["mode"] == "listen"
            await in_thread(call.finish)
            live = await recv_until(agent, "call_ended")
        async with connect(ws_url(server, "agent")) as late:  # the replay is filtered too
            await late.recv()
            await late.send(json.dumps({"type": "subscribe", "call_id": "quiet"}))
            replay = await recv_until(late, "call_ended")
    finally:
        if registry.get(call.call_id) is not None:
            await in_thread(call.finish)
    assert "supervisor_action" in call.types()  # recorded in the call's own stream
    assert all(m["type"] != "supervisor_action" for m in live + replay)


# -- 5. HTTP edges -------------------------------------------------------------------------------


def test_two_origin_headers_get_400_not_a_traceback(
    server: OverlayServer, caplog: pytest.LogCaptureFixture
) -> None:
    token = server.config.supervisors[0].token
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(
            f"GET /ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:{server.port}\r\n"
            "Origin: http://evil.example\r\n\r\n".encode()
        )
        status = s.recv(4096).split(b"\r\n", 1)[0]
    assert status == b"HTTP/1.1 400 Bad Request"
    assert not [r for r in caplog.records if r.exc_info]


def test_a_huge_static_name_is_404_and_stays_out_of_the_log(
    server: OverlayServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # (websockets logs request lines only at DEBUG)
    name = "a" * 5_000
    for path in (f"/static/{name}", f"/static/{name[:200]}.js", "/static/.hidden"):
        status, _, _ = http_status(server.port, "GET", path)
        assert status in (404, 414)
    assert not [r for r in caplog.records if r.exc_info or name[:100] in r.getMessage()]


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "DELETE", "TRACE", "POST", "PUT", "FOO"])
def test_methods_other_than_get_are_405(server: OverlayServer, method: str) -> None:
    status, headers, body = http_status(server.port, method, "/")
    assert status == 405 and headers["Allow"] == "GET" and b"<title>" not in body
    status, _, body = http_status(server.port, "GET", "/")  # and the server still serves
    assert status == 200 and b"<title>" in body


@pytest.mark.parametrize("method", ["HEAD", "POST", "GET"])
def test_a_request_with_a_body_gets_no_page(server: OverlayServer, method: str) -> None:
    """websockets refuses request bodies itself: it hangs up without an answer."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, "/", body=b"x" * 10)
        with pytest.raises(http.client.RemoteDisconnected):
            conn.getresponse()
    finally:
        conn.close()
    assert http_status(server.port, "GET", "/")[0] == 200


def test_pages_carry_the_security_headers(server: OverlayServer) -> None:
    for path in ("/", "/supervisor", "/static/conn.js", "/nope"):
        _, headers, _ = http_status(server.port, "GET", path)
        csp = headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'self'" in csp
        assert "script-src 'self';" in csp  # no inline script may run
        assert headers["X-Frame-Options"] == "SAMEORIGIN"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["X-Content-Type-Options"] == "nosniff"


async def test_origins_are_parsed_strictly(server: OverlayServer) -> None:
    port = server.port
    for origin in (
        f"http://evil.example.com@127.0.0.1:{port}",
        f"http://127.0.0.1:{port}/path",
        f"http://127.0.0.1:{port}?q=1",
        f"http://127.0.0.1:0{port}",
    ):
        with pytest.raises(InvalidStatus) as err:
            async with connect(ws_url(server), origin=origin):  # type: ignore[arg-type]
                pass
        assert err.value.response.status_code == 403, origin
    async with connect(ws_url(server), origin=f"http://127.0.0.1:{port}") as ws:  # type: ignore[arg-type]
        assert json.loads(await ws.recv())["type"] == "hello"


# -- 6. connections without limit ----------------------------------------------------------------


async def test_connections_per_token_are_capped(registry: CallRegistry) -> None:
    cfg = OverlayConfig(port=0, max_connections_per_token=3)
    srv = OverlayServer(config=cfg, registry=registry).start()
    try:
        opened = [await connect(ws_url(srv, "agent")) for _ in range(3)]
        for ws in opened:
            assert json.loads(await ws.recv())["type"] == "hello"
        async with connect(ws_url(srv, "agent")) as extra:
            err = json.loads(await extra.recv())
            assert err["code"] == "too_many_connections"
            with pytest.raises(ConnectionClosed) as closed:
                await extra.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
        async with connect(ws_url(srv)) as sup:  # another token is not affected
            assert json.loads(await sup.recv())["type"] == "hello"
        await opened.pop().close()
        await in_thread(wait_until, lambda: srv.clients == 2, 5.0)
        async with connect(ws_url(srv, "agent")) as again:  # a freed slot can be used
            assert json.loads(await again.recv())["type"] == "hello"
        for ws in opened:
            await ws.close()
    finally:
        srv.stop()


async def test_idle_handshakes_time_out_and_connections_overall_are_capped(
    registry: CallRegistry,
) -> None:
    cfg = OverlayConfig(port=0, max_connections=5)
    srv = OverlayServer(config=cfg, registry=registry).start()
    token = srv.config.agents[0].token
    try:
        idle = []
        for _ in range(5):  # authenticated request line, then nothing: an idle handshake
            r, w = await asyncio.open_connection("127.0.0.1", srv.port)
            w.write(f"GET /ws?token={token} HTTP/1.1\r\n".encode())
            await w.drain()
            idle.append((r, w))
        await in_thread(wait_until, lambda: srv.sockets == 5, 10.0)
        with pytest.raises((OSError, InvalidHandshake)):
            async with connect(ws_url(srv), open_timeout=3) as ws:  # the sixth: refused
                await ws.recv()
        t0 = time.monotonic()
        for r, _ in idle:  # the server hangs up on each idle handshake
            async with asyncio.timeout(HANDSHAKE_TIMEOUT_S + 3):
                assert await r.read() == b""
        assert time.monotonic() - t0 <= HANDSHAKE_TIMEOUT_S + 3
        await in_thread(wait_until, lambda: srv.sockets == 0, 5.0)
        async with connect(ws_url(srv)) as ws:  # room again
            assert json.loads(await ws.recv())["type"] == "hello"
        for _, w in idle:
            w.close()
    finally:
        srv.stop()


async def test_clients_that_drop_early_are_not_counted(registry: CallRegistry) -> None:
    """Clients that vanish before the upgrade, right after it, or before reading `hello`
    leave no count behind: the token's connection cap would otherwise lock it out."""
    cfg = OverlayConfig(port=0, max_connections_per_token=4)
    srv = OverlayServer(config=cfg, registry=registry).start()
    token = srv.config.agents[0].token
    try:
        for i in range(30):
            w = await raw_ws(srv.port, token, {"type": "subscribe"} if i % 3 else None)
            if i % 3 == 2:  # a close frame right behind the request
                w.write(bytes([0x88, 0x82]) + b"\0\0\0\0" + struct.pack("!H", 1000))
            sock = w.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            w.transport.abort()  # a reset, not a close
        await in_thread(wait_until, lambda: srv.clients == 0 and srv.sockets == 0, 10.0)
        assert not srv.per_token
        for _ in range(4):
            async with connect(ws_url(srv, "agent")) as ws:
                assert json.loads(await ws.recv())["type"] == "hello"
    finally:
        srv.stop()
