"""End to end through the WebSocket protocol: pymediasoup peers publish, consume and decode."""

from __future__ import annotations

import asyncio

from tests.conftest import RunningServer
from tests.media_client import MovingVideoTrack, ToneAudioTrack, loopback_ice, receive_frames
from tests.signaling_client import Peer


async def worker_dump_counts(server: RunningServer) -> tuple[int, int]:
    """(routers, transports) across the server's workers, from the workers themselves."""
    routers = transports = 0
    for worker in server.sfu.pool.workers:
        dump = await worker.dump()
        routers += len(dump["routerIds"])
        for router in worker.routers.values():
            transports += len((await router.dump())["transportIds"])
    return routers, transports


async def test_publish_consume_decode_and_cleanup(server: RunningServer) -> None:
    with loopback_ice():
        video, audio = MovingVideoTrack(), ToneAudioTrack()
        alice = Peer([video, audio])
        joined = await alice.join(server.ws_url, server.token("room1", "alice", "Alice"))
        assert joined["roomId"] == "room1" and joined["userId"] == "alice"
        assert joined["peers"] == [] and joined["producers"] == []
        video_id = await alice.produce(video)
        audio_id = await alice.produce(audio)

        # Bob joins late: he learns the producers from the join-room answer.
        bob = Peer()
        bob_joined = await bob.join(server.ws_url, server.token("room1", "bob", "Bob"))
        assert bob_joined["peers"] == [{"userId": "alice", "userName": "Alice"}]
        listed = {p["producerId"]: p for p in bob_joined["producers"]}
        assert set(listed) == {video_id, audio_id}
        assert listed[video_id]["kind"] == "video" and listed[video_id]["userName"] == "Alice"
        assert (await alice.signaling.wait_event("peer-joined"))["userId"] == "bob"
        _, video_consumer = await bob.consume(video_id)
        _, audio_consumer = await bob.consume(audio_id)
        frames = await receive_frames(video_consumer.track, 5)
        assert frames[-1].width == 320
        assert len(await receive_frames(audio_consumer.track, 10)) == 10

        # Carol is there before Alice publishes again: she learns it from new-producer.
        carol = Peer()
        await carol.join(server.ws_url, server.token("room1", "carol"))
        video2 = MovingVideoTrack()
        second_id = await alice.produce(video2)
        announced = await carol.signaling.wait_event("new-producer", lambda d: d["producerId"] == second_id)
        assert announced["userId"] == "alice" and announced["kind"] == "video"
        _, carol_consumer = await carol.consume(second_id)
        assert len(await receive_frames(carol_consumer.track, 3)) == 3

        # close-producer -> producer-closed to the others, consumer-closed to its consumers.
        await alice.signaling.request("close-producer", {"producerId": second_id})
        assert await bob.signaling.wait_event("producer-closed", lambda d: d["producerId"] == second_id)
        closed = await carol.signaling.wait_event("consumer-closed", lambda d: d["producerId"] == second_id)
        assert closed["consumerId"]

        # Alice disconnects: peer-left + producer-closed for each of hers; the worker forgets them.
        await alice.close()
        assert (await bob.signaling.wait_event("peer-left"))["userId"] == "alice"
        for producer_id in (video_id, audio_id):
            await bob.signaling.wait_event(
                "producer-closed", lambda d, pid=producer_id: d["producerId"] == pid
            )
        closed_ids = [e["data"]["producerId"] for e in bob.signaling.events if e["type"] == "producer-closed"]
        assert sorted(closed_ids) == sorted([second_id, video_id, audio_id])  # each exactly once
        await bob.close()
        await carol.close()

        async def drained() -> None:
            while (await worker_dump_counts(server))[1] != 0:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(drained(), 10)
        # The empty room is kept for its grace period, then closed with its router.
        assert server.sfu.registry.get("room1") is not None
