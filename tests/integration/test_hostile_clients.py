"""Clients that misbehave on purpose: they stop reading, connect twice at once, or send garbage.

Each test holds one break found under attack: the server must drop the offender within a bounded
time, keep its memory bounded in bytes, and leave every other peer and the room untouched.
"""

from __future__ import annotations

import asyncio
import logging
import os

import aiohttp
import orjson
import psutil
import pytest

from sfuctl.client import SignalingClient, audio_rtp_parameters
from sfuctl.server.limits import Limits
from tests.conftest import RunningServer, start_server
from tests.load.helpers import eventually
from tests.raw_websocket import RawWebSocket

FAST = {"requests_per_second": 10_000.0, "request_burst": 10_000, "max_app_data_bytes": 64 * 1024}
"""The flooding peer is the test's own: its requests must not be what limits the test."""
BLOB = "x" * 60_000
"""appData echoed to every other peer in new-producer: 60 KB an event."""


def rss_mib() -> float:
    return psutil.Process(os.getpid()).memory_info().rss / 2**20


def has_left(watcher: SignalingClient, user: str) -> bool:
    return any(e["type"] == "peer-left" and e["data"]["userId"] == user for e in watcher.events)


async def flood(watcher: SignalingClient, users: list[str], rounds: int) -> int:
    """Produce and close producers with a big appData until every one of ``users`` has left."""
    send = await watcher.create_transport("send")
    for done in range(rounds):
        if all(has_left(watcher, user) for user in users):
            return done
        producer_id = await watcher.produce_audio(send["id"], {"blob": BLOB})
        await watcher.request("close-producer", {"producerId": producer_id})
    return rounds


def peer_transports(running: RunningServer, room_id: str) -> int:
    room = running.sfu.registry.get(room_id)
    return 0 if room is None else sum(len(peer.transports) for peer in room.peers.values())


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Log records with a traceback, from the server or from aiohttp under it."""
    return [r.getMessage() for r in caplog.records if r.exc_info and r.name.startswith(("sfuctl", "aiohttp"))]


async def test_clients_that_stop_reading_are_dropped_and_memory_stays_bounded_in_bytes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Breaks 1 and 3: overflowing outboxes drop their clients, objects closed, others told."""
    running = await start_server(limits=Limits(**FAST, room_grace_seconds=0.2))
    try:
        watcher = SignalingClient()
        await watcher.connect(running.ws_url, running.token("slow", "watcher"))
        await watcher.join()
        slow = []
        for user in ("slow1", "slow2"):
            client = await RawWebSocket.connect(running.config.port, running.token("slow", user))
            await client.request("join-room", {}, "1")
            await client.request("create-transport", {"direction": "recv"}, "2")
            slow.append(client)

        async def both_have_transports() -> bool:
            return peer_transports(running, "slow") == 2

        await eventually(both_have_transports, what="both slow peers' transports")
        before = rss_mib()
        rounds = await asyncio.wait_for(flood(watcher, ["slow1", "slow2"], 3000), 120)
        after = rss_mib()
        print(f"\nserver RSS before {before:.0f} MiB, after {after:.0f} MiB ({rounds} floods of 60 KB)")
        assert has_left(watcher, "slow1") and has_left(watcher, "slow2")
        room = running.sfu.registry.get("slow")
        assert room is not None and list(room.peers) == ["watcher"]
        assert not {("slow", "slow1"), ("slow", "slow2")} & set(running.sfu.signaling.connections)
        assert len((await room.router.dump())["transportIds"]) == 1  # the watcher's send transport
        assert after - before < 64, "per-client memory must be bounded in bytes"
        for client in slow:
            client.close()
        await watcher.close()
        assert not tracebacks(caplog)
    finally:
        await running.stop()


async def test_a_client_whose_socket_takes_nothing_is_dropped_after_the_heartbeat_period(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Break 1, second half: an outbox far from full, but a socket that accepts no byte for long."""
    limits = Limits(**FAST, heartbeat_seconds=1.0, outbound_queue=100_000, room_grace_seconds=0.2)
    running = await start_server(limits=limits)
    try:
        watcher = SignalingClient()
        await watcher.connect(running.ws_url, running.token("stall", "watcher"))
        await watcher.join()
        client = await RawWebSocket.connect(running.config.port, running.token("stall", "stuck"))
        await client.request("join-room", {}, "1")
        await watcher.wait_event("peer-joined")
        # ~1 MB: more than the socket buffers take, far less than the outbox may hold
        send = await watcher.create_transport("send")
        for _ in range(16):
            producer_id = await watcher.produce_audio(send["id"], {"blob": BLOB})
            await watcher.request("close-producer", {"producerId": producer_id})
        assert (await watcher.wait_event("peer-left", timeout=30))["userId"] == "stuck"
        client.close()
        await watcher.close()
        assert not tracebacks(caplog)
    finally:
        await running.stop()


async def test_a_burst_of_requests_from_a_reading_client_is_not_a_stalled_reader() -> None:
    """Break 11: 5,000 frames at once with the answers read: answered (rate-limited), not dropped."""
    running = await start_server()
    try:
        client = SignalingClient()
        await client.connect(running.ws_url, running.token("burst", "eager"))
        await client.join()
        answers = [client.request_frame("pause-consumer", {"consumerId": f"c{i}"}) for i in range(5000)]
        frames = await asyncio.wait_for(asyncio.gather(*answers), 60)
        codes = {frame["error"]["code"] for frame in frames}
        assert codes <= {"not_found", "limit_exceeded"}, codes
        assert client.close_code is None
        # The burst spent the connection's tokens; the last ones may have been refilled just
        # now: wait for the next, as a client told to slow down does (else 'limit_exceeded').
        await asyncio.sleep(1 / Limits().requests_per_second)
        await client.request("leave-room")
        await client.close()
    finally:
        await running.stop()


async def test_data_that_is_not_an_object_gets_an_error_response() -> None:
    """Break 10: a valid type and requestId, with a string, number, list, bool or null as data."""
    running = await start_server()
    try:
        client = SignalingClient()
        await client.connect(running.ws_url, running.token("r", "u"))
        for data in ("text", 7, [1, 2], True):
            frame = await asyncio.wait_for(client.request_frame("produce", data), 5)
            assert frame["ok"] is False and frame["error"]["code"] == "bad_request", frame
        assert client.close_code is None
        await client.close()
    finally:
        await running.stop()


async def test_the_same_user_connecting_three_times_at_once_leaves_one_live_connection() -> None:
    """Break 5: replacement is atomic — one connection, one peer, counts that agree, no ghost."""
    running = await start_server(limits=Limits(**FAST))
    try:
        async with aiohttp.ClientSession() as http:
            watcher = SignalingClient(http)
            await watcher.connect(running.ws_url, running.token("dup", "watcher"))
            await watcher.join()
            recv = await watcher.create_transport("recv")
            for _ in range(10):
                await one_round_of_three_twins(running, http, watcher, recv["id"])
            await watcher.close()
    finally:
        await running.stop()


async def one_round_of_three_twins(
    running: RunningServer, http: aiohttp.ClientSession, watcher: SignalingClient, recv_id: str
) -> None:
    watcher.events.clear()
    twins = [SignalingClient(http) for _ in range(3)]
    token = running.token("dup", "twin")
    await asyncio.gather(*(twin.connect(running.ws_url, token) for twin in twins))
    await asyncio.gather(*(twin.join() for twin in twins), return_exceptions=True)

    async def one_live() -> bool:
        return sum(1 for twin in twins if twin.close_code is None) == 1

    await eventually(one_live, timeout=10, what="exactly one live connection of the user")
    live = next(twin for twin in twins if twin.close_code is None)
    assert {twin.close_code for twin in twins if twin is not live} == {4001}
    if not live.joined:  # its join-room may have raced with a replaced twin's: join again
        await live.join()
    room = running.sfu.registry.get("dup")
    assert room is not None and sorted(room.peers) == ["twin", "watcher"]
    # the survivor is a whole peer: what it publishes is announced and can be consumed
    send = await live.create_transport("send")
    producer_id = await live.produce_audio(send["id"])
    await watcher.wait_event("new-producer", where=lambda d: d["producerId"] == producer_id)
    await watcher.consume(recv_id, producer_id)
    async with http.get(f"{running.url}/health") as resp:
        assert (await resp.json())["peers"] == 2
    membership = [
        e["type"]
        for e in watcher.events
        if e["type"] in ("peer-joined", "peer-left") and e["data"]["userId"] == "twin"
    ]
    assert membership and membership[-1] == "peer-joined", membership
    await asyncio.gather(*(twin.close() for twin in twins))
    await watcher.wait_event("peer-left", where=lambda d: d["userId"] == "twin")


def nested(levels: int) -> str:
    """JSON text of objects nested ``levels`` deep (deeper than orjson encodes)."""
    return '{"a":' * (levels - 1) + "{}" + "}" * (levels - 1)


def produce_text(transport_id: str, request_id: str, app_data: str = "{}", parameters: str = "") -> str:
    rtp = orjson.dumps(audio_rtp_parameters()).decode()
    if parameters:
        rtp = rtp.replace('{"minptime":10,"useinbandfec":1}', parameters)
    return (
        f'{{"type":"produce","requestId":"{request_id}","data":{{"transportId":"{transport_id}",'
        f'"kind":"audio","rtpParameters":{rtp},"appData":{app_data}}}}}'
    )


async def test_deeply_nested_app_data_is_refused_before_anything_is_created(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Break 4: 300 levels of appData must not create a producer nor poison the room."""
    running = await start_server()
    try:
        owner, other, late = SignalingClient(), SignalingClient(), SignalingClient()
        await owner.connect(running.ws_url, running.token("deep", "owner"))
        await other.connect(running.ws_url, running.token("deep", "other"))
        await owner.join()
        await other.join()
        send = await owner.create_transport("send")
        for i, app_data in enumerate((nested(300), orjson.dumps({"blob": "x" * 20_000}).decode())):
            frame = await owner.request_text(produce_text(send["id"], f"d{i}", app_data), f"d{i}")
            assert frame["ok"] is False and frame["error"]["code"] == "bad_request", frame["error"]
        room = running.sfu.registry.get("deep")
        assert room is not None and not (await room.router.dump())["mapProducerIdConsumerIds"]
        assert not any(e["type"] == "new-producer" for e in other.events)
        await late.connect(running.ws_url, running.token("deep", "late"))
        joined = await late.join()  # the room still works for everyone
        assert joined["producers"] == [] and len(joined["peers"]) == 2
        producer_id = await owner.produce_audio(send["id"], {"fine": {"nested": [1, 2, {"3": 4}]}})
        assert (await late.wait_event("new-producer"))["producerId"] == producer_id
        assert not [r for r in caplog.records if r.name.startswith("sfuctl") and r.levelno >= logging.ERROR]
        for client in (owner, other, late):
            await client.close()
    finally:
        await running.stop()


async def test_deeply_nested_rtp_parameters_are_a_cheap_bad_request(caplog: pytest.LogCaptureFixture) -> None:
    """Break 8: 900 levels inside rtpParameters: bad_request at the edge, no traceback logged."""
    running = await start_server(limits=Limits(**FAST))
    try:
        client = SignalingClient()
        await client.connect(running.ws_url, running.token("deep8", "u"))
        await client.join()
        send = await client.create_transport("send")
        for i in range(50):
            text = produce_text(send["id"], f"p{i}", parameters=nested(900))
            frame = await client.request_text(text, f"p{i}")
            assert frame["ok"] is False and frame["error"]["code"] == "bad_request", frame["error"]
        assert not [
            r
            for r in caplog.records
            if r.name.startswith("sfuctl") and (r.levelno >= logging.ERROR or r.exc_info)
        ]
        await client.close()
    finally:
        await running.stop()
