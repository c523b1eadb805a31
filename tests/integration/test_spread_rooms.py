"""Rooms that spread over workers, with real pymediasoup peers through the signaling protocol.

``consumers_per_router`` is set to 2, so the third peer of a room lands on a router of the other
worker; producers reach it through pipes, and the peers see nothing of it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from sfuctl.server.auth import Grants, mint_token
from sfuctl.server.limits import Limits
from sfuctl.server.media.router import Router
from sfuctl.server.media.worker import Worker
from sfuctl.server.signaling.room import Room
from tests.cli.test_cli_server import sfuctl
from tests.conftest import TEST_SECRET, RunningServer, free_port, process_exists, start_server
from tests.media_client import MovingVideoTrack, ToneAudioTrack, loopback_ice, receive_frames
from tests.signaling_client import Peer, SignalingClient

ROOM = "big"


@pytest.fixture
async def spread_server() -> AsyncIterator[RunningServer]:
    running = await start_server(workers=2, limits=Limits(consumers_per_router=2, room_grace_seconds=0.2))
    yield running
    pids = [w.pid for w in running.sfu.pool.workers]
    await running.stop()
    assert not any(process_exists(pid) for pid in pids)


def room_of(server: RunningServer) -> Room:
    room = server.sfu.registry.get(ROOM)
    assert room is not None and not room.closed
    return room


def router_of(server: RunningServer, user_id: str) -> Router:
    router = room_of(server).media.assigned.get(user_id)
    assert router is not None
    return router


async def pipe_transports(worker: Worker) -> int:
    """Pipe transports the worker itself holds (its dumps), not what the controller believes."""
    count = 0
    for router in list(worker.routers.values()):
        for transport_id in (await router.dump())["transportIds"]:
            transport = router.transports.get(transport_id)
            if transport is None or transport.transport_type == "pipe":
                count += 1  # unknown to the controller counts too: that would be an orphan
    return count


async def join(server: RunningServer, user: str, tracks: list[Any] | None = None) -> Peer:
    peer = Peer(tracks)
    await peer.join(server.ws_url, server.token(ROOM, user, user.capitalize()))
    return peer


async def room_detail(server: RunningServer) -> dict[str, Any]:
    token, _ = mint_token(TEST_SECRET, "*", "admin", grants=Grants(admin=True))
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{server.url}/rooms/{ROOM}", headers={"Authorization": f"Bearer {token}"}
        ) as response:
            assert response.status == 200
            detail: dict[str, Any] = await response.json()
            return detail


async def test_a_room_spreads_over_two_workers_and_media_crosses_the_pipes(
    spread_server: RunningServer,
) -> None:
    server = spread_server
    with loopback_ice():
        video, audio = MovingVideoTrack(), ToneAudioTrack()
        alice = await join(server, "alice", [video, audio])
        video_id = await alice.produce(video)
        audio_id = await alice.produce(audio)

        bob = await join(server, "bob")
        _, bob_video = await bob.consume(video_id)
        _, bob_audio = await bob.consume(audio_id)
        main = router_of(server, "alice")
        assert router_of(server, "bob") is main  # 2 consumers: the main router is now full

        carol_audio_track = ToneAudioTrack()
        carol = await join(server, "carol", [carol_audio_track])
        listed = {p["producerId"] for p in carol.joined["producers"]}
        assert listed == {video_id, audio_id}  # join-room lists the producers wherever they live
        carol_video_info, carol_video = await carol.consume(video_id)
        _, carol_audio = await carol.consume(audio_id)
        second = router_of(server, "carol")
        assert second is not main and second.worker is not main.worker
        assert carol_video_info["producerId"] == video_id  # same ids across the pipe

        # Receivers on both workers decode the publisher's video and audio.
        for track in (bob_video.track, carol_video.track):
            assert (await receive_frames(track, 5))[-1].width == 320
        for track in (bob_audio.track, carol_audio.track):
            assert len(await receive_frames(track, 10)) == 10

        # A producer on the second worker reaches a receiver on the first.
        carol_audio_id = await carol.produce(carol_audio_track)
        announced = await bob.signaling.wait_event(
            "new-producer", lambda d: d["producerId"] == carol_audio_id
        )
        assert announced["userId"] == "carol"
        _, bob_from_carol = await bob.consume(carol_audio_id)
        assert len(await receive_frames(bob_from_carol.track, 10)) == 10
        # The active-speaker observer (main router) hears audio of the whole room.
        assert carol_audio_id in main.producers

        # Visibility: per peer the worker, and the room's routers.
        detail = await room_detail(server)
        workers = {p["userId"]: p["workerPid"] for p in detail["peers"]}
        assert workers == {"alice": main.worker.pid, "bob": main.worker.pid, "carol": second.worker.pid}
        assert [(r["workerPid"], r["main"]) for r in detail["routers"]] == [
            (main.worker.pid, True),
            (second.worker.pid, False),
        ]
        assert all(r["pipeTransports"] == 1 for r in detail["routers"])
        shown = await sfuctl("rooms", "show", ROOM, "--url", server.url)
        assert shown.exit_code == 0, shown.output
        assert "(main)" in shown.stdout
        assert str(main.worker.pid) in shown.stdout and str(second.worker.pid) in shown.stdout

        # pause / resume / close cross the pipe.
        await alice.signaling.request("pause-producer", {"producerId": video_id})
        assert await carol.signaling.wait_event("producer-paused", lambda d: d["producerId"] == video_id)
        await alice.signaling.request("resume-producer", {"producerId": video_id})
        assert await carol.signaling.wait_event("producer-resumed", lambda d: d["producerId"] == video_id)
        assert (await receive_frames(carol_video.track, 3))[-1].width == 320
        await alice.signaling.request("close-producer", {"producerId": video_id})
        assert await carol.signaling.wait_event("producer-closed", lambda d: d["producerId"] == video_id)
        closed = await carol.signaling.wait_event("consumer-closed", lambda d: d["producerId"] == video_id)
        assert closed["consumerId"] == carol_video_info["id"]
        assert video_id not in second.producers  # its pipe went with it

        # Carol leaves: her router closes, and with it the pipes on both sides.
        await carol.close()
        assert (await bob.signaling.wait_event("peer-left"))["userId"] == "carol"

        async def unpiped() -> None:
            while second in room_of(server).media.routers or await pipe_transports(main.worker):
                await asyncio.sleep(0.05)

        await asyncio.wait_for(unpiped(), 10)
        assert second.closed
        assert await pipe_transports(second.worker) == 0
        await alice.close()
        await bob.close()


@pytest.mark.parametrize("victim", ["second", "main"])
async def test_a_worker_that_dies_leaves_the_room_alive_on_the_other(
    spread_server: RunningServer, victim: str
) -> None:
    server = spread_server
    with loopback_ice():
        video, audio = MovingVideoTrack(), ToneAudioTrack()
        alice = await join(server, "alice", [video, audio])
        video_id = await alice.produce(video)
        audio_id = await alice.produce(audio)
        bob = await join(server, "bob")
        await bob.consume(video_id)
        await bob.consume(audio_id)
        carol_audio_track = ToneAudioTrack()
        carol = await join(server, "carol", [carol_audio_track])
        await carol.consume(video_id)
        carol_audio_id = await carol.produce(carol_audio_track)
        _, bob_from_carol = await bob.consume(carol_audio_id)
        assert len(await receive_frames(bob_from_carol.track, 5)) == 5
        main, second = router_of(server, "alice"), router_of(server, "carol")
        assert main.worker is not second.worker
        room = room_of(server)

        if victim == "second":
            dead, survivors, lost = second.worker, [alice, bob], [carol]
            lost_producers = [carol_audio_id]
        else:
            dead, survivors, lost = main.worker, [carol], [alice, bob]
            lost_producers = [video_id, audio_id]
        alive = second.worker if victim == "main" else main.worker
        os.kill(dead.pid, signal.SIGKILL)

        for peer in lost:
            closed = await peer.signaling.wait_event("room-closed")
            assert closed["reason"] == "worker-died"
        lost_ids = {"carol"} if victim == "second" else {"alice", "bob"}
        for peer in survivors:
            for user_id in lost_ids:
                left = await peer.signaling.wait_event("peer-left", lambda d, u=user_id: d["userId"] == u)
                assert left
            for producer_id in lost_producers:
                assert await peer.signaling.wait_event(
                    "producer-closed", lambda d, p=producer_id: d["producerId"] == p
                )
            assert not [e for e in peer.signaling.events if e["type"] == "room-closed"]
        if victim == "second":  # bob consumed carol's audio through the pipe: his consumer closes
            assert await bob.signaling.wait_event(
                "consumer-closed", lambda d: d["producerId"] == carol_audio_id
            )
        else:  # carol consumed alice's video through the pipe
            assert await carol.signaling.wait_event("consumer-closed", lambda d: d["producerId"] == video_id)

        # The room lives on the other worker, with nothing left of the pipes there.
        assert room_of(server) is room
        assert [r.worker for r in room.media.routers] == [alive]
        assert set(room.peers) == ({"alice", "bob"} if victim == "second" else {"carol"})
        assert await pipe_transports(alive) == 0

        async def observing() -> None:  # the survivors' main router follows speakers again
            while room.speaker_observer is None or room.speaker_observer.closed:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(observing(), 10)
        assert room.speaker_observer is not None
        assert room.speaker_observer.router is room.router

        # The survivors go on: a new publisher is received.
        tone = ToneAudioTrack()
        dave = await join(server, "dave", [tone])
        dave_id = await dave.produce(tone)
        listener = survivors[0]
        _, from_dave = await listener.consume(dave_id)
        assert len(await receive_frames(from_dave.track, 5)) == 5
        for peer in [*survivors, dave]:
            await peer.close()
        for peer in lost:
            await peer.close()


async def test_data_producers_are_piped_to_the_routers_of_their_consumers(
    spread_server: RunningServer,
) -> None:
    server = spread_server
    clients: list[SignalingClient] = []

    async def client(user: str) -> SignalingClient:
        peer = SignalingClient()
        await peer.connect(server.ws_url, server.token(ROOM, user))
        await peer.join()
        clients.append(peer)
        return peer

    try:
        alice = await client("alice")
        send = await alice.request("create-transport", {"direction": "send", "sctp": True})
        audio_ids = [await alice.produce_audio(send["id"]) for _ in range(2)]
        chat = await alice.request(
            "produce-data",
            {"transportId": send["id"], "sctpStreamParameters": {"streamId": 1}, "label": "chat"},
        )
        bob = await client("bob")  # fills the main router (2 consumers)
        bob_recv = await bob.create_transport("recv")
        for audio_id in audio_ids:
            await bob.consume(bob_recv["id"], audio_id)
        carol = await client("carol")
        carol_recv = await carol.request("create-transport", {"direction": "recv", "sctp": True})
        main, second = router_of(server, "alice"), router_of(server, "carol")
        assert second is not main

        consumed = await carol.request(
            "consume-data", {"transportId": carol_recv["id"], "dataProducerId": chat["id"]}
        )

        assert consumed["dataProducerId"] == chat["id"] and consumed["label"] == "chat"
        assert chat["id"] in second.data_producers  # a pipe's copy, same id
        carol_peer = room_of(server).peers["carol"]
        (data_consumer,) = carol_peer.data_consumers.values()

        # Alice leaves: her data producer closes, and the copy behind the pipe with it.
        await alice.close()
        await carol.wait_event("peer-left", lambda d: d["userId"] == "alice")

        async def closed() -> None:
            while not data_consumer.closed or chat["id"] in second.data_producers:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(closed(), 10)
        assert carol_peer.data_consumers == {}
    finally:
        for peer in clients:
            await peer.close()


async def test_bench_fanout_reports_a_room_spread_over_both_workers(spread_server: RunningServer) -> None:
    from sfuctl.bench.common import Target
    from sfuctl.bench.fanout import FanoutOptions, run_fanout

    server = spread_server
    options = FanoutOptions(receivers=6, transports_per_peer=1, duration=1.0, room=ROOM)
    result = await run_fanout(Target(server.url, TEST_SECRET), options, lambda *_: None)

    assert result["streamsReceived"] == 6
    routers = result["roomRouters"]
    assert len({r["workerPid"] for r in routers}) == 2
    assert sum(r["consumers"] for r in routers) == 6 + sum(r["pipeTransports"] for r in routers) // 2
    assert set(result["server"]["workerCpuPercentEach"]) == {str(w.pid) for w in server.sfu.pool.workers}


def two_free_ports() -> int:
    """A base port such that base and base + 1 are free (single-port mode: one per worker)."""
    for _ in range(50):
        base = free_port()
        try:
            with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                tcp.bind(("127.0.0.1", base + 1))
                udp.bind(("127.0.0.1", base + 1))
        except OSError:
            continue
        return base
    raise RuntimeError("no two free ports in a row")


async def test_single_port_mode_a_spread_room_uses_each_workers_port() -> None:
    base = two_free_ports()
    server = await start_server(
        workers=2, webrtc_server_port=base, limits=Limits(consumers_per_router=1, room_grace_seconds=0.2)
    )
    try:
        with loopback_ice():
            video = MovingVideoTrack()
            alice = await join(server, "alice", [video])
            video_id = await alice.produce(video)
            bob = await join(server, "bob")
            await bob.consume(video_id)
            carol = await join(server, "carol")
            _, carol_video = await carol.consume(video_id)
            assert len(await receive_frames(carol_video.track, 3)) == 3
            ports = server.sfu.single_port.ports  # type: ignore[union-attr]
            main, second = router_of(server, "alice"), router_of(server, "carol")
            assert second.worker is not main.worker
            for peer, direction, router in ((alice, "send", main), (carol, "recv", second)):
                candidates = peer.transport_infos[direction]["iceCandidates"]
                assert {c["port"] for c in candidates} == {ports[router.worker.pid]}
            for peer in (alice, bob, carol):
                await peer.close()
    finally:
        await server.stop()


async def test_a_speaker_on_the_second_worker_is_the_rooms_active_speaker() -> None:
    server = await start_server(workers=2, limits=Limits(consumers_per_router=1, room_grace_seconds=0.2))
    try:
        with loopback_ice():
            video, tone = MovingVideoTrack(), ToneAudioTrack()
            alice = await join(server, "alice", [video])
            video_id = await alice.produce(video)
            bob = await join(server, "bob")
            await bob.consume(video_id)  # the main router is full
            carol = await join(server, "carol", [tone])
            tone_id = await carol.produce(tone)
            assert router_of(server, "carol") is not router_of(server, "alice")

            for peer in (alice, bob):
                event = await peer.signaling.wait_event("active-speaker", timeout=15)
                assert event == {"userId": "carol", "producerId": tone_id}
            for peer in (alice, bob, carol):
                await peer.close()
    finally:
        await server.stop()


async def test_bench_join_times_a_viewer_of_a_room_already_spread(spread_server: RunningServer) -> None:
    from sfuctl.bench.common import Target
    from sfuctl.bench.join import run_join

    server = spread_server
    result = await run_join(Target(server.url, TEST_SECRET), 1, ROOM, lambda *_: None, viewers=3)

    assert result["firstFrameMs"]["count"] == 1 and result["failures"] == {}
    assert result["viewersBefore"] == 3
    assert len({r["workerPid"] for r in result["roomRouters"]}) == 2


async def test_bench_join_fills_a_room_past_a_hundred_viewers() -> None:
    """Each viewer holds a WebSocket: the tool's HTTP pool must not stop at aiohttp's 100."""
    from sfuctl.bench.common import Target
    from sfuctl.bench.join import run_join

    server = await start_server(
        workers=2, limits=Limits(consumers_per_router=60, max_peers_per_room=110, room_grace_seconds=0.2)
    )
    try:
        run = run_join(Target(server.url, TEST_SECRET), 1, ROOM, lambda *_: None, viewers=101)
        result = await asyncio.wait_for(run, 90)
        assert result["firstFrameMs"]["count"] == 1 and result["failures"] == {}
        assert sum(r["peers"] for r in result["roomRouters"]) == 102  # the publisher, 101 viewers
    finally:
        await server.stop()


async def test_webhooks_tell_who_left_with_a_dead_worker_and_the_room_goes_on() -> None:
    from tests.integration.test_webhooks import SECRET, Receiver

    receiver = Receiver()
    await receiver.start()
    server = await start_server(
        workers=2, webhook_urls=[receiver.url], webhook_secret=SECRET,
        limits=Limits(consumers_per_router=1, room_grace_seconds=0.2),
    )  # fmt: skip
    clients: list[SignalingClient] = []
    try:
        for user in ("pub", "first", "second"):
            client = SignalingClient()
            clients.append(client)
            await client.connect(server.ws_url, server.token(ROOM, user))
            await client.join()
        pub, first, second = clients
        audio = await pub.produce_audio((await pub.create_transport("send"))["id"])
        await first.consume((await first.create_transport("recv"))["id"], audio)
        lost_audio = await second.produce_audio((await second.create_transport("send"))["id"])
        dead = router_of(server, "second").worker
        assert dead is not router_of(server, "pub").worker

        os.kill(dead.pid, signal.SIGKILL)

        assert (await second.wait_event("room-closed"))["reason"] == "worker-died"
        await pub.wait_event("peer-left", lambda d: d["userId"] == "second")

        def events() -> list[tuple[str, str]]:
            """(event, track id or user id) of what the receiver got."""
            return [
                (e["event"], e["track"]["id"] if "track" in e else e.get("participant", {}).get("userId"))
                for e in receiver.accepted
            ]

        async def told() -> None:
            while ("participant-left", "second") not in events():
                await asyncio.sleep(0.05)

        await asyncio.wait_for(told(), 10)
        assert ("track-unpublished", lost_audio) in events()
        assert "room-finished" not in [name for name, _ in events()]
        assert room_of(server).peers.keys() == {"pub", "first"}
    finally:
        for client in clients:
            await client.close()
        await server.stop()
        await receiver.stop()


async def test_a_router_on_a_busy_worker_takes_no_new_peer_of_its_room() -> None:
    """spread_cpu_percent=0: every worker counts as busy, so the room's second peer goes on the
    other worker although the main router has room for thousands of consumers."""
    server = await start_server(workers=2, limits=Limits(spread_cpu_percent=0.0, room_grace_seconds=0.2))
    clients: list[SignalingClient] = []
    try:
        for user in ("first", "second", "third"):
            client = SignalingClient()
            clients.append(client)
            await client.connect(server.ws_url, server.token(ROOM, user))
            await client.join()
            await client.create_transport("recv")
        first, second, third = (router_of(server, u) for u in ("first", "second", "third"))
        assert second.worker is not first.worker
        assert third in (first, second)  # both busy: the one with the fewest consumers, no third router
        assert len(room_of(server).media.routers) == 2
    finally:
        for client in clients:
            await client.close()
        await server.stop()
