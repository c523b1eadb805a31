"""Moderation through the admin REST API, end to end: two pymediasoup peers with real media."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from sfuctl.server.signaling.connection import CLOSE_KICKED
from tests.conftest import RunningServer
from tests.media_client import MovingVideoTrack, ToneAudioTrack, loopback_ice, receive_frames
from tests.signaling_client import Peer, RequestError

pytestmark = pytest.mark.worker


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def admin(
    http: aiohttp.ClientSession, server: RunningServer, method: str, path: str, token: str | None = None
) -> tuple[int, Any]:
    token = token or server.token("*", "admin", admin=True)
    async with http.request(method, server.url + path, headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, (await resp.json() if resp.status != 204 else None)


def producers_of(detail: dict[str, Any], user: str) -> list[dict[str, Any]]:
    return next(peer["producers"] for peer in detail["peers"] if peer["userId"] == user)


async def test_kick_disconnects_the_peer_and_tells_the_others(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    with loopback_ice():
        video, tone = MovingVideoTrack(), ToneAudioTrack()
        alice, bob = Peer([video]), Peer([tone])
        try:
            await alice.join(server.ws_url, server.token("mod", "alice"))
            await bob.join(server.ws_url, server.token("mod", "bob"))
            video_id = await alice.produce(video)
            audio_id = await bob.produce(tone)
            _, from_alice = await bob.consume(video_id)
            _, from_bob = await alice.consume(audio_id)
            assert len(await receive_frames(from_alice.track, 3)) == 3
            assert len(await receive_frames(from_bob.track, 3)) == 3

            assert (await admin(http, server, "DELETE", "/rooms/mod/peers/bob"))[0] == 204
            assert (await bob.signaling.wait_event("room-closed"))["reason"] == "kicked"
            assert await bob.signaling.wait_closed() == CLOSE_KICKED
            assert (await alice.signaling.wait_event("peer-left"))["userId"] == "bob"
            assert (await alice.signaling.wait_event("producer-closed"))["producerId"] == audio_id
            assert (await alice.signaling.wait_event("consumer-closed"))["producerId"] == audio_id

            status, detail = await admin(http, server, "GET", "/rooms/mod")
            assert status == 200 and [peer["userId"] for peer in detail["peers"]] == ["alice"]
            assert [p["id"] for p in producers_of(detail, "alice")] == [video_id]
            # Alice goes on as before: she can still publish.
            assert await alice.produce(MovingVideoTrack())

            status, body = await admin(http, server, "DELETE", "/rooms/mod/peers/bob")
            assert status == 404 and body["error"]["code"] == "not_found"
            assert "bob" in body["error"]["message"]
            assert (await admin(http, server, "DELETE", "/rooms/nope/peers/bob"))[0] == 404
            not_admin = server.token("mod", "carol")
            assert (await admin(http, server, "DELETE", "/rooms/mod/peers/alice", not_admin))[0] == 403
            assert (await admin(http, server, "DELETE", "/rooms/mod/peers/" + "x" * 129))[0] == 400
        finally:
            await alice.close()
            await bob.close()


async def test_mute_pauses_for_consumers_and_the_owner_cannot_resume(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    with loopback_ice():
        video = MovingVideoTrack()
        alice, bob = Peer([video]), Peer()
        try:
            await alice.join(server.ws_url, server.token("mute", "alice"))
            await bob.join(server.ws_url, server.token("mute", "bob"))
            video_id = await alice.produce(video)
            info, consumer = await bob.consume(video_id)
            assert len(await receive_frames(consumer.track, 3)) == 3

            status, body = await admin(http, server, "POST", f"/rooms/mute/producers/{video_id}/mute")
            assert status == 200, body
            assert body == {"producerId": video_id, "userId": "alice", "muted": True, "paused": True}
            by_admin = {"producerId": video_id, "by": "admin"}
            assert await alice.signaling.wait_event("producer-muted") == by_admin
            assert (await bob.signaling.wait_event("producer-paused"))["producerId"] == video_id
            with pytest.raises(RequestError) as refused:
                await alice.signaling.request("resume-producer", {"producerId": video_id})
            assert refused.value.code == "forbidden" and "muted" in refused.value.message
            status, detail = await admin(http, server, "GET", "/rooms/mute")
            (producer,) = producers_of(detail, "alice")
            assert producer["muted"] is True and producer["paused"] is True
            (bobs,) = next(p["consumers"] for p in detail["peers"] if p["userId"] == "bob")
            assert bobs["id"] == info["id"] and bobs["producerPaused"] is True  # told by the worker
            # Muting again changes nothing.
            again = await admin(http, server, "POST", f"/rooms/mute/producers/{video_id}/mute")
            assert again == (200, body)

            status, body = await admin(http, server, "POST", f"/rooms/mute/producers/{video_id}/unmute")
            assert status == 200 and body["muted"] is False and body["paused"] is False
            assert await alice.signaling.wait_event("producer-unmuted") == by_admin
            assert (await bob.signaling.wait_event("producer-resumed"))["producerId"] == video_id
            assert len(await receive_frames(consumer.track, 3)) == 3
            # The owner has its own pause and resume back.
            await alice.signaling.request("pause-producer", {"producerId": video_id})
            await alice.signaling.request("resume-producer", {"producerId": video_id})

            missing = await admin(http, server, "POST", "/rooms/mute/producers/nope/mute")
            assert missing[0] == 404 and "nope" in missing[1]["error"]["message"]
        finally:
            await alice.close()
            await bob.close()


async def test_close_producer_tells_the_owner_and_the_consumers(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    with loopback_ice():
        video = MovingVideoTrack()
        alice, bob = Peer([video]), Peer()
        try:
            await alice.join(server.ws_url, server.token("close", "alice"))
            await bob.join(server.ws_url, server.token("close", "bob"))
            video_id = await alice.produce(video)
            info, consumer = await bob.consume(video_id)
            assert len(await receive_frames(consumer.track, 3)) == 3

            assert (await admin(http, server, "DELETE", f"/rooms/close/producers/{video_id}"))[0] == 204
            closed = await bob.signaling.wait_event("consumer-closed")
            assert closed == {"consumerId": info["id"], "producerId": video_id}
            assert (await bob.signaling.wait_event("producer-closed"))["producerId"] == video_id
            assert (await alice.signaling.wait_event("producer-closed"))["producerId"] == video_id
            _, detail = await admin(http, server, "GET", "/rooms/close")
            assert producers_of(detail, "alice") == []
            assert all(not p["consumers"] for p in detail["peers"])
            assert (await admin(http, server, "DELETE", f"/rooms/close/producers/{video_id}"))[0] == 404
            # Both peers are still in the room and may go on.
            assert [p["userId"] for p in detail["peers"]] == ["alice", "bob"]
        finally:
            await alice.close()
            await bob.close()
