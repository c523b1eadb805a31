"""Protocol behaviour over real WebSockets: bad input, ownership, limits, replacement, worker death."""

from __future__ import annotations

import asyncio
import os
import signal

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sfuctl.server.limits import Limits
from sfuctl.server.signaling import protocol
from tests.conftest import RunningServer, start_server
from tests.media_client import MovingVideoTrack, loopback_ice
from tests.signaling_client import Peer, RequestError, SignalingClient


async def joined(server: RunningServer, room: str, user: str, **grants: bool) -> SignalingClient:
    client = SignalingClient()
    await client.connect(server.ws_url, server.token(room, user, **grants))
    await client.request("join-room")
    return client


async def expect_error(
    client: SignalingClient, request_type: str, data: dict[str, object], code: str
) -> None:
    with pytest.raises(RequestError) as info:
        await client.request(request_type, data)
    assert info.value.code == code, info.value


# -- bad input -----------------------------------------------------------------------------------


async def test_bad_frames_get_error_events_and_the_connection_stays_usable(server: RunningServer) -> None:
    client = await joined(server, "r", "u")
    for raw in (
        "not json",
        "[1,2,3]",
        '{"type": "join-room"}',
        '{"type": 5, "requestId": 7}',
    ):
        await client.send_raw(raw)
        event = await client.wait_event("error", lambda d: True)
        assert event["code"] == "bad_request" and event["message"]
        client.events.clear()
    # a usable requestId gets its response, whatever else is wrong with the frame
    for raw in ('{"requestId": "x"}', '{"type": 5, "requestId": "x"}',
                '{"type": "produce", "requestId": "x", "data": "s"}'):  # fmt: skip
        frame = await client.request_text(raw, "x")
        assert frame["ok"] is False and frame["error"]["code"] == "bad_request", frame
    assert client.ws is not None
    await client.ws.send_bytes(b"\x00\x01")
    assert (await client.wait_event("error"))["code"] == "bad_request"
    # Still usable:
    transport = await client.request("create-transport", {"direction": "recv"})
    assert transport["id"]
    await client.close()


@pytest.mark.parametrize(
    ("request_type", "data", "code"),
    [
        ("no-such-request", {}, "unknown_type"),
        ("create-transport", {}, "bad_request"),
        ("create-transport", {"direction": "sideways"}, "bad_request"),
        ("create-transport", {"direction": "send", "sctp": "yes"}, "bad_request"),
        ("create-transport", {"direction": "send", "extra": 1}, "bad_request"),
        ("connect-transport", {"transportId": 5, "dtlsParameters": {}}, "bad_request"),
        ("produce", {"transportId": "x", "kind": "smell", "rtpParameters": {}}, "bad_request"),
        ("set-preferred-layers", {"consumerId": "c", "spatialLayer": -1}, "bad_request"),
        ("join-room", {}, "already_joined"),
        ("resume-consumer", {"consumerId": "nope"}, "not_found"),
        ("close-producer", {"producerId": "nope"}, "not_found"),
        ("restart-ice", {"transportId": "nope"}, "not_found"),
    ],
)
async def test_request_errors_have_the_documented_codes(
    server: RunningServer, request_type: str, data: dict[str, object], code: str
) -> None:
    client = await joined(server, "r", "u")
    await expect_error(client, request_type, data, code)
    assert (await client.request("create-transport", {"direction": "recv"}))["id"]
    await client.close()


async def test_requests_before_join_are_refused(server: RunningServer) -> None:
    client = SignalingClient()
    await client.connect(server.ws_url, server.token("r", "u"))
    await expect_error(client, "create-transport", {"direction": "send"}, "not_joined")
    await client.request("join-room")
    await client.close()


async def test_invalid_mediasoup_structures_are_bad_requests(server: RunningServer) -> None:
    client = await joined(server, "r", "u")
    send = await client.request("create-transport", {"direction": "send"})
    await expect_error(
        client,
        "connect-transport",
        {"transportId": send["id"], "dtlsParameters": {"fingerprints": "x"}},
        "bad_request",
    )
    await expect_error(
        client,
        "produce",
        {"transportId": send["id"], "kind": "video", "rtpParameters": {"codecs": 3}},
        "bad_request",
    )
    await expect_error(
        client,
        "produce",
        {
            "transportId": send["id"],
            "kind": "video",
            "rtpParameters": {"codecs": [{"mimeType": "video/NOPE", "payloadType": 100, "clockRate": 90000}]},
        },
        "bad_request",
    )
    await client.close()


REQUEST_TYPES = sorted(protocol.REQUESTS)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    request_type=st.sampled_from([*REQUEST_TYPES, "bogus"]),
    data=st.dictionaries(
        st.sampled_from(
            [
                "transportId",
                "producerId",
                "consumerId",
                "kind",
                "direction",
                "rtpParameters",
                "rtpCapabilities",
                "dtlsParameters",
                "spatialLayer",
                "sctpStreamParameters",
                "x",
            ]
        ),
        json_values,
        max_size=4,
    ),
)
async def test_fuzzed_payloads_never_break_the_connection(
    server: RunningServer, request_type: str, data: dict[str, object]
) -> None:
    client = await joined(server, "fuzz", "fuzzer")
    try:
        frame = await client.request_frame(request_type, data)
        assert frame["type"] == "response"
        if not frame["ok"]:
            assert frame["error"]["code"] in {c.value for c in protocol.ErrorCode} - {"internal"}, frame
        if request_type == "leave-room" and frame["ok"]:
            await client.request("join-room")
        # The connection survives and the server still answers.
        assert (await client.request("create-transport", {"direction": "recv"}))["id"]
    finally:
        await client.close()


# -- ownership and isolation --------------------------------------------------------------------


async def test_a_peer_cannot_touch_another_peers_objects(server: RunningServer) -> None:
    with loopback_ice():
        video = MovingVideoTrack()
        owner = Peer([video])
        await owner.join(server.ws_url, server.token("room", "owner"))
        producer_id = await owner.produce(video)
        send_id = owner.send_transport.id
        _, own_consumer = await owner.consume(producer_id)
        consumer_id = own_consumer.id
        intruder = await joined(server, "room", "intruder")
        await expect_error(intruder, "close-producer", {"producerId": producer_id}, "forbidden")
        await expect_error(intruder, "pause-producer", {"producerId": producer_id}, "forbidden")
        await expect_error(intruder, "resume-consumer", {"consumerId": consumer_id}, "forbidden")
        await expect_error(intruder, "restart-ice", {"transportId": send_id}, "forbidden")
        await expect_error(
            intruder,
            "consume",
            {"transportId": send_id, "producerId": producer_id, "rtpCapabilities": owner.rtp_capabilities},
            "forbidden",
        )
        # Another room cannot even see it.
        outsider = await joined(server, "elsewhere", "outsider")
        recv = await outsider.request("create-transport", {"direction": "recv"})
        await expect_error(
            outsider,
            "consume",
            {"transportId": recv["id"], "producerId": producer_id, "rtpCapabilities": owner.rtp_capabilities},
            "not_found",
        )
        await expect_error(outsider, "close-producer", {"producerId": producer_id}, "not_found")
        # The owner's objects are alive and usable.
        await owner.signaling.request("pause-producer", {"producerId": producer_id})
        await owner.signaling.request("resume-producer", {"producerId": producer_id})
        assert not intruder.events or all(e["type"] != "producer-closed" for e in intruder.events)
        for client in (intruder, outsider):
            await client.close()
        await owner.close()


async def test_consume_with_incompatible_capabilities_is_cannot_consume(server: RunningServer) -> None:
    with loopback_ice():
        video = MovingVideoTrack()
        owner = Peer([video])
        await owner.join(server.ws_url, server.token("room", "owner"))
        producer_id = await owner.produce(video)
        viewer = await joined(server, "room", "viewer")
        recv = await viewer.request("create-transport", {"direction": "recv"})
        audio_only = {**owner.rtp_capabilities}
        audio_only["codecs"] = [c for c in audio_only["codecs"] if c["kind"] == "audio"]
        await expect_error(
            viewer,
            "consume",
            {"transportId": recv["id"], "producerId": producer_id, "rtpCapabilities": audio_only},
            "cannot_consume",
        )
        await viewer.close()
        await owner.close()


# -- limits and replacement ----------------------------------------------------------------------


async def test_limits() -> None:
    running = await start_server(
        limits=Limits(
            max_message_bytes=4096,
            max_transports_per_peer=2,
            max_peers_per_room=2,
            request_burst=5,
            requests_per_second=1,
        )
    )
    try:
        client = await joined(running, "r", "a")
        await client.request("create-transport", {"direction": "recv"})
        await client.request("create-transport", {"direction": "recv"})
        await expect_error(client, "create-transport", {"direction": "recv"}, "limit_exceeded")
        # Rate: the burst is used up, the next requests are refused; others are unaffected.
        codes = []
        for _ in range(4):
            frame = await client.request_frame("create-transport", {"direction": "recv"})
            codes.append(frame["error"]["code"])
        assert codes.count("limit_exceeded") == 4
        second = await joined(running, "r", "b")
        third = SignalingClient()
        await third.connect(running.ws_url, running.token("r", "c"))
        await expect_error(third, "join-room", {}, "limit_exceeded")
        assert (await second.request("create-transport", {"direction": "recv"}))["id"]
        # Oversize frame: the connection is closed with 1009, nobody else is affected.
        await client.send_raw('{"type": "join-room", "requestId": "1", "data": {"x": "' + "y" * 8000 + '"}}')
        assert await client.wait_closed() == 1009
        assert (await second.request("create-transport", {"direction": "recv"}))["id"]
        for c in (second, third):
            await c.close()
    finally:
        await running.stop()


async def test_same_user_reconnecting_replaces_the_old_connection(server: RunningServer) -> None:
    first = await joined(server, "r", "same")
    watcher = await joined(server, "r", "watcher")
    second = await joined(server, "r", "same")
    assert await first.wait_closed() == 4001
    room = server.sfu.registry.get("r")
    assert room is not None and set(room.peers) == {"same", "watcher"}
    assert (await second.request("create-transport", {"direction": "recv"}))["id"]
    await watcher.wait_event("peer-left", lambda d: d["userId"] == "same")
    await second.close()
    await watcher.close()


# -- worker death ---------------------------------------------------------------------------------


async def test_worker_killed_mid_session_closes_its_rooms_and_service_recovers() -> None:
    running = await start_server(workers=1)
    try:
        client = await joined(running, "doomed", "u1")
        await client.request("create-transport", {"direction": "recv"})
        pool = running.sfu.pool
        victim = pool.workers[0]
        os.kill(victim.pid, signal.SIGKILL)
        assert (await client.wait_event("room-closed"))["reason"] == "worker-died"

        async def replaced() -> None:
            while not pool.workers or pool.workers[0] is victim:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(replaced(), 10)
        async with aiohttp.ClientSession() as http, http.get(f"{running.url}/health") as resp:
            health = await resp.json()
        assert [w["pid"] for w in health["workers"]] == [pool.workers[0].pid] != [victim.pid]
        assert health["status"] == "ok"
        again = await joined(running, "doomed", "u2")
        assert (await again.request("create-transport", {"direction": "recv"}))["id"]
        await again.close()
        await client.close()
    finally:
        await running.stop()
