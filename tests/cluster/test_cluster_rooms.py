"""Rooms that span nodes: three `sfuctl serve --redis` processes on one real redis-server, real
pymediasoup peers on different nodes of one room."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sfuctl.client import RequestError, SignalingClient
from sfuctl.server.auth import Grants, mint_token
from tests.cli.test_cli_server import sfuctl
from tests.cluster.conftest import NODE_TTL, Node
from tests.conftest import TEST_SECRET, free_port
from tests.media_client import MovingVideoTrack, ToneAudioTrack, loopback_ice, receive_frames
from tests.redis_server import RedisServer
from tests.signaling_client import Peer

ROOM = "span"


async def join(node: Node, user: str, tracks: list[Any] | None = None, room: str = ROOM) -> Peer:
    peer = Peer(tracks)
    await peer.join(node.ws_url, node.token(room, user, user.capitalize()))
    return peer


async def wait_for(check: Any, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if await asyncio.to_thread(check):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {what}")


async def test_media_and_events_cross_nodes_and_a_killed_node_leaves_the_room(cluster: list[Node]) -> None:
    n1, n2, n3 = cluster
    with loopback_ice():
        video, audio = MovingVideoTrack(), ToneAudioTrack()
        alice = await join(n1, "alice", [video, audio])
        video_id = await alice.produce(video)
        audio_id = await alice.produce(audio)

        bob_audio_track = ToneAudioTrack()
        bob = await join(n2, "bob", [bob_audio_track])
        # join-room through another node lists the room's peers and producers there
        assert [p["userId"] for p in bob.joined["peers"]] == ["alice"]
        assert {p["producerId"] for p in bob.joined["producers"]} == {video_id, audio_id}
        assert (await alice.signaling.wait_event("peer-joined"))["userId"] == "bob"

        # bob, on n2, decodes alice's video and audio from n1; the consumer has the original id
        bob_video_info, bob_video = await bob.consume(video_id)
        _, bob_audio = await bob.consume(audio_id)
        assert bob_video_info["producerId"] == video_id
        assert (await receive_frames(bob_video.track, 5))[-1].width == 320
        assert len(await receive_frames(bob_audio.track, 10)) == 10

        # and the other way: alice, on n1, decodes bob's audio from n2
        bob_audio_id = await bob.produce(bob_audio_track)
        announced = await alice.signaling.wait_event(
            "new-producer", lambda d: d["producerId"] == bob_audio_id
        )
        assert announced["userId"] == "bob" and announced["kind"] == "audio"
        _, alice_from_bob = await alice.consume(bob_audio_id)
        assert len(await receive_frames(alice_from_bob.track, 10)) == 10

        # a third node's peer sees both, and their events
        carol = await join(n3, "carol")
        assert {p["userId"] for p in carol.joined["peers"]} == {"alice", "bob"}
        assert {p["producerId"] for p in carol.joined["producers"]} == {video_id, audio_id, bob_audio_id}
        _, carol_video = await carol.consume(video_id)
        assert (await receive_frames(carol_video.track, 3))[-1].width == 320

        # pause / resume / close of a producer on n1 reach consumers on n2
        await alice.signaling.request("pause-producer", {"producerId": video_id})
        await bob.signaling.wait_event("producer-paused", lambda d: d["producerId"] == video_id)
        await alice.signaling.request("resume-producer", {"producerId": video_id})
        await bob.signaling.wait_event("producer-resumed", lambda d: d["producerId"] == video_id)
        assert (await receive_frames(bob_video.track, 3))[-1].width == 320
        await alice.signaling.request("close-producer", {"producerId": video_id})
        await bob.signaling.wait_event("producer-closed", lambda d: d["producerId"] == video_id)
        closed = await bob.signaling.wait_event("consumer-closed", lambda d: d["producerId"] == video_id)
        assert closed["consumerId"] == bob_video_info["id"]
        await carol.signaling.wait_event("producer-closed", lambda d: d["producerId"] == video_id)

        # n2 dies with bob on it: within the node TTL (plus a heartbeat) the others see him go
        killed_at = time.monotonic()
        n2.kill()
        left = await alice.signaling.wait_event("peer-left", lambda d: d["userId"] == "bob", timeout=15)
        assert left == {"userId": "bob"}
        await alice.signaling.wait_event("producer-closed", lambda d: d["producerId"] == bob_audio_id)
        await carol.signaling.wait_event("peer-left", lambda d: d["userId"] == "bob", timeout=15)
        assert time.monotonic() - killed_at < 15
        # the room goes on: alice's audio still reaches carol across n1 → n3
        _, carol_audio = await carol.consume(audio_id)
        assert len(await receive_frames(carol_audio.track, 10)) == 10
        health = await asyncio.to_thread(n1.health)
        assert health["status"] == "ok" and health["cluster"]["redis"] == "up"
        # pipes: what went to n2 is closed; one pipe transport to n3 carries alice's audio to carol
        pipes = {k: health["cluster"][k] for k in ("pipeTransports", "pipedIn", "pipedOut")}
        assert pipes == {"pipeTransports": 1, "pipedIn": 0, "pipedOut": 1}
        # a pipe closes when its last consumer goes
        await carol.close()
        await wait_for(lambda: n1.health()["cluster"]["pipedOut"] == 0, 10, "the pipe to n3 closed")
        await alice.close()
        await bob.signaling.close()


async def test_the_same_user_through_two_nodes_keeps_only_the_later(cluster: list[Node]) -> None:
    n1, n2, _ = cluster
    watcher = SignalingClient()
    await watcher.connect(n1.ws_url, n1.token(ROOM, "watcher"))
    await watcher.join()
    first = SignalingClient()
    await first.connect(n1.ws_url, n1.token(ROOM, "dup"))
    await first.join()
    await watcher.wait_event("peer-joined", lambda d: d["userId"] == "dup")
    second = SignalingClient()
    await second.connect(n2.ws_url, n2.token(ROOM, "dup"))
    joined = await second.join()
    assert [p["userId"] for p in joined["peers"]] == ["watcher"]  # not the replaced connection
    assert await first.wait_closed(10) == 4001
    # the watcher sees the user leave (the first connection) and join (the second), once each
    await watcher.wait_event("peer-left", lambda d: d["userId"] == "dup")
    await asyncio.sleep(NODE_TTL / 2)
    seen = [e["type"] for e in watcher.events if e.get("data", {}).get("userId") == "dup"]
    assert seen == ["peer-joined", "peer-left", "peer-joined"], watcher.events
    third = SignalingClient()
    await third.connect(n1.ws_url, n1.token(ROOM, "late"))
    assert {p["userId"] for p in (await third.join())["peers"]} == {"watcher", "dup"}
    for client in (watcher, second, third):
        await client.close()


async def test_two_nodes_racing_to_open_a_room_and_joining_at_once(cluster: list[Node]) -> None:
    """The same room opened on two nodes at once, the same user joining through both at once:
    one room across both nodes, and one connection of the user left."""
    n1, n2, n3 = cluster
    a, b = SignalingClient(), SignalingClient()
    await asyncio.gather(
        a.connect(n1.ws_url, n1.token("race", "ann")), b.connect(n2.ws_url, n2.token("race", "ben"))
    )
    await asyncio.gather(a.join(), b.join())
    watcher = SignalingClient()
    await watcher.connect(n3.ws_url, n3.token("race", "watcher"))
    assert {p["userId"] for p in (await watcher.join())["peers"]} == {"ann", "ben"}
    x, y = SignalingClient(), SignalingClient()
    await asyncio.gather(x.connect(n1.ws_url, n1.token("race", "same")),
                         y.connect(n2.ws_url, n2.token("race", "same")))  # fmt: skip
    await asyncio.gather(x.join(), y.join(), return_exceptions=True)

    async def one_left() -> None:
        while x.close_code is None and y.close_code is None:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(one_left(), 10)
    await asyncio.sleep(1.0)
    codes = sorted(code for code in (x.close_code, y.close_code) if code is not None)
    assert codes == [4001]
    late = SignalingClient()
    await late.connect(n3.ws_url, n3.token("race", "late"))
    peers = [p["userId"] for p in (await late.join())["peers"]]
    assert sorted(peers) == ["ann", "ben", "same", "watcher"]
    for client in (a, b, watcher, x, y, late):
        await client.close()


async def test_redis_stopped_and_restarted_mid_call(cluster: list[Node], redis_server: RedisServer) -> None:
    n1, n2, n3 = cluster
    with loopback_ice():
        audio = ToneAudioTrack()
        alice = await join(n1, "alice", [audio])
        audio_id = await alice.produce(audio)
        bob = await join(n2, "bob")
        erin = SignalingClient()
        await erin.connect(n1.ws_url, n1.token(ROOM, "erin"))
        await erin.join()
        await bob.signaling.wait_event("peer-joined", lambda d: d["userId"] == "erin")
        _, bob_audio = await bob.consume(audio_id)
        assert len(await receive_frames(bob_audio.track, 5)) == 5

        redis_server.stop()
        await wait_for(lambda: n1.health()["status"] == "degraded", 15, "n1 degraded without Redis")
        assert n1.health()["cluster"]["redis"] == "down"
        # the call keeps its media
        assert len(await receive_frames(bob_audio.track, 20)) == 20
        # new cross-node work: unavailable
        carol = SignalingClient()
        await carol.connect(n2.ws_url, n2.token(ROOM, "carol"))
        with pytest.raises(RequestError) as refused:
            await carol.join()
        assert refused.value.code == "unavailable"
        await carol.close()
        await erin.close()  # leaves while the nodes cannot tell each other

        redis_server.start()  # empty: no persistence
        await wait_for(lambda: n1.health()["status"] == "ok", 20, "n1 ok again")
        await wait_for(lambda: n2.health()["status"] == "ok", 20, "n2 ok again")
        # n1's state, sent again, tells n2 that erin left meanwhile
        await bob.signaling.wait_event("peer-left", lambda d: d["userId"] == "erin", timeout=10)
        # reconciled without a restart: a new peer on a third node sees the room whole
        await asyncio.sleep(NODE_TTL)  # past the re-registration window: nobody was declared dead
        dave = SignalingClient()
        await dave.connect(n3.ws_url, n3.token(ROOM, "dave"))
        assert {p["userId"] for p in (await dave.join())["peers"]} == {"alice", "bob"}
        assert not [
            e
            for e in alice.signaling.events
            if e.get("type") == "peer-left" and e["data"]["userId"] != "erin"
        ]
        assert len(await receive_frames(bob_audio.track, 10)) == 10
        await dave.close()
        await alice.close()
        await bob.close()


async def test_login_places_peers_and_the_rooms_of_the_cluster_are_listed(cluster: list[Node]) -> None:
    n1, n2, n3 = cluster
    clients = []
    for node, user in ((n1, "a"), (n1, "b"), (n2, "c")):
        client = SignalingClient()
        await client.connect(node.ws_url, node.token("listed", user))
        await client.join()
        clients.append(client)
    await asyncio.sleep(NODE_TTL / 3 + 0.5)  # a heartbeat carries each node's load
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{n3.url}/login", json={"roomId": "listed", "userName": "D"}) as response:
            assert response.status == 200
            assert (await response.json())["url"] == n1.url  # the node with most of the room
        async with http.post(f"{n1.url}/login", json={"roomId": "new", "userName": "E"}) as response:
            assert response.status == 200
            assert (await response.json())["url"] == n3.url  # a new room: the node with no peers
        admin = {"Authorization": f"Bearer {admin_token()}"}
        async with http.get(f"{n3.url}/rooms", headers=admin) as response:
            listing = await response.json()
        assert listing["rooms"] == []
        [room] = [r for r in listing["elsewhere"] if r["roomId"] == "listed"]
        assert room["peers"] == 3
        assert sorted((n["node"], n["peers"]) for n in room["nodes"]) == [("n1", 2), ("n2", 1)]
        async with http.get(f"{n1.url}/rooms", headers=admin) as response:
            here = (await response.json())["rooms"]
        assert [r["roomId"] for r in here] == ["listed"] and here[0]["peers"] == 2
        assert sorted(n["node"] for n in here[0]["nodes"]) == ["n1", "n2"]
        async with http.get(f"{n1.url}/metrics") as response:
            metrics = await response.text()
        assert 'sfuctl_cluster_node_info{epoch="' in metrics and 'node="n1"} 1.0' in metrics
        assert "sfuctl_cluster_redis_up 1.0" in metrics
        assert "sfuctl_cluster_remote_peers 1.0" in metrics  # c, on n2
    shown = await sfuctl("rooms", "list", "--url", n3.url)
    assert shown.exit_code == 0, shown.output
    assert "on other nodes" in shown.stdout and "n1 (2)" in shown.stdout
    for client in clients:
        await client.close()


def admin_token() -> str:
    return mint_token(TEST_SECRET, "*", "admin", grants=Grants(admin=True))[0]


async def test_doctor_checks_redis(redis_server: RedisServer) -> None:
    ok = await sfuctl("doctor", "--no-start", "--json", "--redis", redis_server.url)
    [check] = [c for c in json.loads(ok.stdout)["checks"] if c["name"] == "Redis (cluster)"]
    assert check["status"] == "ok" and "Redis 7" in check["detail"], check
    redis_server.stop()
    down = await sfuctl("doctor", "--no-start", "--json", "--redis", redis_server.url)
    assert down.exit_code == 1
    [check] = [c for c in json.loads(down.stdout)["checks"] if c["name"] == "Redis (cluster)"]
    assert check["status"] == "fail" and "redis-server" in check["fix"], check


async def test_a_node_restarted_at_once_does_not_bring_back_its_old_peers(cluster: list[Node]) -> None:
    """Killed and started again with the same node id before its keys expire: the new process
    removes its previous run's state and tells the rooms, so no ghost peer stays."""
    n1, n2, n3 = cluster
    watcher = SignalingClient()
    await watcher.connect(n2.ws_url, n2.token(ROOM, "watcher"))
    await watcher.join()
    ghost = SignalingClient()
    await ghost.connect(n1.ws_url, n1.token(ROOM, "ghost"))
    await ghost.join()
    await watcher.wait_event("peer-joined", lambda d: d["userId"] == "ghost")
    n1.kill()
    n1.start()
    await asyncio.to_thread(n1.wait_ready)
    # told by the new incarnation at its start, not only when the old one's keys expire
    await watcher.wait_event("peer-left", lambda d: d["userId"] == "ghost", timeout=NODE_TTL * 3)
    late = SignalingClient()
    await late.connect(n3.ws_url, n3.token(ROOM, "late"))
    assert [p["userId"] for p in (await late.join())["peers"]] == ["watcher"]
    health = await asyncio.to_thread(n1.health)
    assert health["cluster"]["node"] == "n1" and health["status"] == "ok"
    for client in (watcher, ghost, late):
        await client.close()


async def test_a_message_not_signed_with_the_cluster_secret_is_dropped(
    cluster: list[Node], redis_server: RedisServer
) -> None:
    import redis.asyncio as aioredis

    from sfuctl.server.cluster import keys
    from sfuctl.server.cluster.envelope import seal
    from sfuctl.server.cluster.settings import cluster_key

    n1, n2, _ = cluster
    watcher = SignalingClient()
    await watcher.connect(n1.ws_url, n1.token(ROOM, "watcher"))
    await watcher.join()
    forged = seal(cluster_key("not-the-secret-0123456789-abcdefghijklmnopqrstuvwxyz"), "n9:1", "event",
                  {"type": "peer-joined", "data": {"userId": "mallory", "userName": "M"}})  # fmt: skip
    client = aioredis.Redis.from_url(redis_server.url)
    try:  # into n1's inbox, as a room message of the room would come
        epoch = (await client.hget(keys.node("n1"), "epoch")).decode()
        later = f"{int(time.time() * 1000) + 60_000}-0"
        await client.xadd(keys.inbox(f"n1:{epoch}"), {"m": forged, "i": later})
    finally:
        await client.aclose()
    genuine = SignalingClient()
    await genuine.connect(n2.ws_url, n2.token(ROOM, "genuine"))
    await genuine.join()
    await watcher.wait_event("peer-joined", lambda d: d["userId"] == "genuine")
    assert not [e for e in watcher.events if e.get("data", {}).get("userId") == "mallory"]
    assert "dropped a message that is not this cluster's" in n1.output()
    for peer in (watcher, genuine):
        await peer.close()


def test_serve_without_its_redis_says_so_in_one_line(tmp_path: Path) -> None:
    node = Node("lonely", f"redis://127.0.0.1:{free_port()}/0", tmp_path)
    node.start()
    assert node.proc is not None
    assert node.proc.wait(60) == 2
    output = node.output()
    assert "cannot reach Redis at redis://127.0.0.1:" in output and "start redis-server" in output, output
    assert "Traceback" not in output, output


async def test_bench_cluster_needs_two_nodes() -> None:
    result = await sfuctl(
        "bench", "cluster", "--single", "http://127.0.0.1:9", "--node", "http://127.0.0.1:9"
    )
    assert result.exit_code == 2 and "give two or more --node" in result.output, result.output


async def test_top_shows_the_node_and_the_cluster(cluster: list[Node]) -> None:
    from sfuctl.api import admin_token_source
    from sfuctl.tui.app import Dashboard
    from sfuctl.tui.data import ApiSource
    from sfuctl.tui.widgets.status import StatusBar
    from tests.tui.test_dashboard import SIZE, text_of, until

    n1 = cluster[0]
    await asyncio.sleep(NODE_TTL / 3 + 0.5)  # a heartbeat has counted the nodes
    app = Dashboard(ApiSource(n1.url, admin_token_source(admin_token())), interval=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "node n1 of 3, Redis up" in text_of(app.query_one(StatusBar)))


async def test_one_node_follows_the_speakers_of_the_whole_room(cluster: list[Node]) -> None:
    """The room's speaker node (n1 here) hears audio published on n2 through a pipe, and every
    node's peers get its active-speaker."""
    n1, n2, n3 = cluster
    with loopback_ice():
        alice = await join(n1, "alice")
        tone = ToneAudioTrack()
        bob = await join(n2, "bob", [tone])
        carol = await join(n3, "carol")
        audio_id = await bob.produce(tone)
        for peer in (alice, bob, carol):
            spoke = await peer.signaling.wait_event("active-speaker", timeout=20)
            assert spoke == {"userId": "bob", "producerId": audio_id}
        # nobody consumes on n1: the one pipe into it feeds its speaker observer; n3 has none
        assert (await asyncio.to_thread(n1.health))["cluster"]["pipedIn"] == 1
        assert (await asyncio.to_thread(n3.health))["cluster"]["pipedIn"] == 0
        for peer in (alice, bob, carol):
            await peer.close()


async def test_every_key_expires_when_every_node_dies(cluster: list[Node], redis_server: RedisServer) -> None:
    import redis.asyncio as aioredis

    n1, n2, _ = cluster
    a, b = SignalingClient(), SignalingClient()
    await a.connect(n1.ws_url, n1.token("doomed", "a"))
    await b.connect(n2.ws_url, n2.token("doomed", "b"))
    await a.join()
    await b.join()
    send = await a.create_transport("send")
    await a.produce_audio(send["id"])
    await asyncio.sleep(NODE_TTL / 3 + 0.5)
    for node in cluster:
        node.kill()
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        keys = await client.keys("sfuctl:*")
        assert any(":peers:" in k for k in keys) and any(":producers:" in k for k in keys), keys
        ttls = {key: await client.ttl(key) for key in keys}
        assert all(ttl > 0 for ttl in ttls.values()), ttls  # none is kept for ever
        await asyncio.sleep(NODE_TTL + 2)
        left = await client.keys("sfuctl:*")
        assert all(key.endswith(":events") for key in left), left  # the streams go after 10 TTLs
    finally:
        await client.aclose()
    for peer in (a, b):
        await peer.close()
