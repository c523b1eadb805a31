"""The admin API acts on the whole cluster: kick, mute, unmute, close a producer and close a room
through any node, whichever node the target is on. Three real nodes on a real redis-server, real
signaling clients and pymediasoup peers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from sfuctl.client import RequestError, SignalingClient
from sfuctl.server.signaling.connection import CLOSE_KICKED
from tests.cluster.conftest import Node
from tests.cluster.test_cluster_rooms import admin_token, wait_for
from tests.media_client import MovingVideoTrack, loopback_ice, receive_frames
from tests.redis_server import RedisServer
from tests.signaling_client import Peer

ROOM = "moderated"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {admin_token()}"}) as session:
        yield session


async def admin(http: aiohttp.ClientSession, node: Node, method: str, path: str) -> tuple[int, Any]:
    async with http.request(method, node.url + path) as response:
        return response.status, (await response.json() if response.status != 204 else None)


async def client(node: Node, user: str, room: str = ROOM) -> SignalingClient:
    signaling = SignalingClient()
    await signaling.connect(node.ws_url, node.token(room, user))
    await signaling.join()
    return signaling


async def test_kick_through_another_node(cluster: list[Node], http: aiohttp.ClientSession) -> None:
    n1, n2, n3 = cluster
    alice = await client(n1, "alice")
    bob = await client(n2, "bob")
    carol = await client(n2, "carol")
    await alice.wait_event("peer-joined", lambda d: d["userId"] == "carol")

    # bob is on n2; the admin asks n1, which hosts the room too
    assert await admin(http, n1, "DELETE", f"/rooms/{ROOM}/peers/bob") == (204, None)
    assert (await bob.wait_event("room-closed"))["reason"] == "kicked"
    assert await bob.wait_closed() == CLOSE_KICKED
    assert (await alice.wait_event("peer-left"))["userId"] == "bob"
    assert (await carol.wait_event("peer-left"))["userId"] == "bob"

    # n3 hosts none of the room: Redis says where carol is
    assert await admin(http, n3, "DELETE", f"/rooms/{ROOM}/peers/carol") == (204, None)
    assert (await carol.wait_event("room-closed"))["reason"] == "kicked"
    assert await carol.wait_closed() == CLOSE_KICKED
    await alice.wait_event("peer-left", lambda d: d["userId"] == "carol")

    # no node has them
    for node in (n1, n3):
        status, body = await admin(http, node, "DELETE", f"/rooms/{ROOM}/peers/bob")
        assert status == 404 and body["error"]["code"] == "not_found", body
    assert (await admin(http, n1, "DELETE", "/rooms/nowhere/peers/bob"))[0] == 404
    assert alice.close_code is None  # alice goes on
    await alice.close()


async def test_mute_unmute_and_close_a_producer_on_another_node(
    cluster: list[Node], http: aiohttp.ClientSession
) -> None:
    n1, n2, n3 = cluster
    with loopback_ice():
        video = MovingVideoTrack()
        alice, bob = Peer([video]), Peer()
        try:
            await alice.join(n2.ws_url, n2.token(ROOM, "alice"))
            video_id = await alice.produce(video)
            await bob.join(n1.ws_url, n1.token(ROOM, "bob"))
            info, consumer = await bob.consume(video_id)
            assert len(await receive_frames(consumer.track, 3)) == 3

            # the admin asks n1; alice's producer is on n2
            path = f"/rooms/{ROOM}/producers/{video_id}"
            status, body = await admin(http, n1, "POST", path + "/mute")
            assert status == 200, body
            assert body == {"producerId": video_id, "userId": "alice", "muted": True, "paused": True}
            by_admin = {"producerId": video_id, "by": "admin"}
            assert await alice.signaling.wait_event("producer-muted") == by_admin
            assert (await bob.signaling.wait_event("producer-paused"))["producerId"] == video_id
            with pytest.raises(RequestError) as refused:
                await alice.signaling.request("resume-producer", {"producerId": video_id})
            assert refused.value.code == "forbidden"
            _, detail = await admin(http, n2, "GET", f"/rooms/{ROOM}")
            (producer,) = next(p["producers"] for p in detail["peers"] if p["userId"] == "alice")
            assert producer["muted"] is True and producer["paused"] is True
            # muting again through n3 (which hosts none of the room) changes nothing
            assert await admin(http, n3, "POST", path + "/mute") == (200, body)

            status, body = await admin(http, n1, "POST", path + "/unmute")
            assert status == 200 and body["muted"] is False and body["paused"] is False, body
            assert await alice.signaling.wait_event("producer-unmuted") == by_admin
            assert (await bob.signaling.wait_event("producer-resumed"))["producerId"] == video_id
            assert len(await receive_frames(consumer.track, 3)) == 3

            assert await admin(http, n1, "DELETE", path) == (204, None)
            assert (await alice.signaling.wait_event("producer-closed"))["producerId"] == video_id
            closed = await bob.signaling.wait_event("consumer-closed")
            assert closed == {"consumerId": info["id"], "producerId": video_id}
            assert (await bob.signaling.wait_event("producer-closed"))["producerId"] == video_id

            # no node has it (any more)
            for method, suffix in (("DELETE", ""), ("POST", "/mute"), ("POST", "/unmute")):
                for node in (n1, n3):
                    status, body = await admin(http, node, method, path + suffix)
                    assert status == 404 and body["error"]["code"] == "not_found", (node.name, body)
            assert (await admin(http, n1, "POST", f"/rooms/{ROOM}/producers/nope/mute"))[0] == 404
        finally:
            await alice.close()
            await bob.close()


async def test_delete_room_on_any_node_closes_it_everywhere(
    cluster: list[Node], http: aiohttp.ClientSession
) -> None:
    n1, n2, n3 = cluster
    alice = await client(n1, "alice")
    bob = await client(n2, "bob")
    await alice.wait_event("peer-joined", lambda d: d["userId"] == "bob")
    other = await client(n1, "dora", room="other")

    assert await admin(http, n3, "DELETE", f"/rooms/{ROOM}") == (204, None)
    assert await alice.wait_event("room-closed") == {"reason": "admin"}
    assert await bob.wait_event("room-closed") == {"reason": "admin"}

    # each node leaves the room in Redis as it closes it there: then no node lists it
    for _ in range(50):
        _, listing = await admin(http, n3, "GET", "/rooms")
        if ROOM not in {r["roomId"] for r in listing.get("elsewhere", [])}:
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError(f"the room is still listed: {listing}")
    for node in (n1, n2):
        _, listing = await admin(http, node, "GET", "/rooms")
        assert ROOM not in {r["roomId"] for r in listing["rooms"]}, (node.name, listing)
    for node in (n1, n2, n3):
        status, body = await admin(http, node, "DELETE", f"/rooms/{ROOM}")
        assert status == 404 and body["error"]["code"] == "not_found", (node.name, body)
    # the other room goes on
    assert other.close_code is None and not [e for e in other.events if e["type"] == "room-closed"]
    for signaling in (alice, bob, other):
        await signaling.close()


async def test_admin_actions_across_nodes_without_redis(
    cluster: list[Node], http: aiohttp.ClientSession, redis_server: RedisServer
) -> None:
    n1, n2, _ = cluster
    alice = await client(n1, "alice")
    bob = await client(n2, "bob")
    await alice.wait_event("peer-joined", lambda d: d["userId"] == "bob")
    redis_server.stop()
    await wait_for(lambda: n1.health()["status"] == "degraded", 15, "n1 degraded without Redis")
    status, body = await admin(http, n1, "DELETE", f"/rooms/{ROOM}/peers/bob")
    assert status == 503 and body["error"]["code"] == "unavailable", body
    status, body = await admin(http, n1, "DELETE", f"/rooms/{ROOM}")
    assert status == 503 and body["error"]["code"] == "unavailable", body
    # the local part still answers as on one node
    assert await admin(http, n1, "DELETE", f"/rooms/{ROOM}/peers/alice") == (204, None)
    assert await alice.wait_closed() == CLOSE_KICKED
    assert bob.close_code is None
    await bob.close()
