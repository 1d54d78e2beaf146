"""The overlay server on a real socket: pages over HTTP, events over the websocket."""

from __future__ import annotations

import json
import urllib.request

import pytest
from conftest import noise, timeline
from websockets.asyncio.client import connect

from assist.audio import FRAME_SAMPLES
from assist.rules import default_pack
from assist.runtime import CallRunner
from assist.session import CallSession
from overlay.server import HubSink, OverlayServer


@pytest.fixture
def server():  # type: ignore[no-untyped-def]
    srv = OverlayServer(port=0).start()
    yield srv
    srv.stop()


def play_call(srv: OverlayServer, call_id: str = "c1") -> None:
    session = CallSession(call_id, pack=default_pack("en"))
    runner = CallRunner(session, [HubSink(srv)], block=True).start()
    agent, customer = timeline(12, [(0.5, 2.0)]), noise(12)
    for i in range(agent.shape[0] // FRAME_SAMPLES):
        sl = slice(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES)
        runner.push(agent[sl], customer[sl])
    runner.finish()


async def recv_until(ws, kind: str) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    import asyncio

    got = []
    async with asyncio.timeout(10):
        while True:
            msg = json.loads(await ws.recv())
            got.append(msg)
            if msg.get("type") == kind:
                return got


def test_pages_are_served_and_unknown_paths_404(server: OverlayServer) -> None:
    with urllib.request.urlopen(server.url) as r:
        assert r.status == 200 and b"<title>softphone-assist" in r.read()
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(server.url + "static/../../etc/passwd")
    assert err.value.code == 404


async def test_client_receives_hello_then_the_prompt_live(server: OverlayServer) -> None:
    import asyncio

    async with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello" and hello["v"] == 1 and hello["protocol"] == 1
        await ws.send(json.dumps({"type": "subscribe"}))
        await asyncio.sleep(0.1)
        player = asyncio.get_running_loop().run_in_executor(None, play_call, server)
        got = await recv_until(ws, "call_ended")
        await player
    prompts = [m for m in got if m["type"] == "prompt"]
    assert [p["data"]["rule"] for p in prompts] == ["customer_silence"]
    seqs = [m["seq"] for m in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


async def test_late_client_resumes_from_its_last_seq_without_duplicates(
    server: OverlayServer,
) -> None:
    import asyncio

    await asyncio.get_running_loop().run_in_executor(None, play_call, server, "c2")
    async with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "subscribe"}))
        everything = await recv_until(ws, "call_ended")
    cut = everything[len(everything) // 2]["seq"]
    async with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "subscribe", "since": {"c2": cut}}))
        rest = await recv_until(ws, "call_ended")
    assert [m["seq"] for m in rest] == [m["seq"] for m in everything if m["seq"] > cut]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "bad_message"),
        ("[1,2]", "bad_message"),
        ('{"type":"dance"}', "unknown_type"),
        ('{"type":"subscribe","since":{"c":"x"}}', "bad_message"),
    ],
)
async def test_bad_messages_get_an_error_and_the_connection_stays(
    server: OverlayServer, raw: str, code: str
) -> None:
    async with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        await ws.recv()
        await ws.send(raw)
        err = json.loads(await ws.recv())
        assert err["type"] == "error" and err["code"] == code
        await ws.send(json.dumps({"type": "subscribe"}))  # still usable
