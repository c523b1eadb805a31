"""Faults under load: a worker SIGKILLed, clients that vanish without a close frame."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import socket
import struct

import aiohttp
import orjson

from sfuctl.client import SignalingClient
from sfuctl.server.limits import Limits
from tests.conftest import RunningServer, start_server
from tests.load.helpers import eventually, session_group


async def test_worker_killed_under_load_affects_only_its_rooms_which_can_be_rejoined() -> None:
    running = await start_server(workers=2, limits=Limits(room_grace_seconds=0.2))
    pool, registry = running.sfu.pool, running.sfu.registry
    stop = asyncio.Event()
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            residents: dict[str, SignalingClient] = {}
            for n in range(4):  # placement is least-loaded: two rooms land on each worker
                peer = SignalingClient(http)
                await peer.connect(running.ws_url, running.token(f"stay-{n}", "resident"))
                await peer.join()
                send = await peer.create_transport("send")
                await peer.produce_audio(send["id"])
                residents[f"stay-{n}"] = peer
            rooms_by_pid: dict[int, list[str]] = {}
            for room_id in residents:
                room = registry.get(room_id)
                assert room is not None
                rooms_by_pid.setdefault(room.worker_pid, []).append(room_id)
            assert len(rooms_by_pid) == 2, rooms_by_pid
            victim = pool.workers[0]
            doomed, spared = rooms_by_pid[victim.pid], rooms_by_pid[pool.workers[1].pid]

            async def churn() -> None:  # sessions keep coming and going meanwhile
                n = 0
                while not stop.is_set():
                    n += 1
                    try:
                        await session_group(http, running, f"churn-{n}", 3)
                    except Exception:
                        pass  # a session on the killed worker fails; that is the point

            load = [asyncio.get_running_loop().create_task(churn()) for _ in range(3)]
            await asyncio.sleep(0.5)
            os.kill(victim.pid, signal.SIGKILL)
            for room_id in doomed:
                closed = await residents[room_id].wait_event("room-closed")
                assert closed["reason"] == "worker-died"
            for room_id in spared:  # the other worker's peers keep working, undisturbed
                peer = residents[room_id]
                assert not [e for e in peer.events if e["type"] == "room-closed"]
                recv = await peer.create_transport("recv")
                assert recv["id"]
            async with http.get(f"{running.url}/health") as resp:
                assert resp.status == 200
            stop.set()
            await asyncio.gather(*load)

            async def replaced() -> bool:
                return len(pool.workers) == 2 and victim not in pool.workers

            await eventually(replaced, what="the dead worker to be replaced")
            for room_id in doomed:  # rejoin: a new router on a live worker, media works again
                peer = SignalingClient(http)
                await peer.connect(running.ws_url, running.token(room_id, "back"))
                await peer.join()
                send = await peer.create_transport("send")
                assert await peer.produce_audio(send["id"])
                await peer.close()
            for peer in residents.values():
                await peer.close()
    finally:
        stop.set()
        await running.stop()


# -- clients that vanish -------------------------------------------------------------------------


async def raw_websocket(server: RunningServer, room: str, user: str) -> socket.socket:
    """A bare WebSocket client on a blocking socket: it answers nothing, not even pings."""
    sock = socket.create_connection(("127.0.0.1", server.config.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /?token={server.token(room, user)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    head = b""
    while b"\r\n\r\n" not in head:
        head += await loop.sock_recv(sock, 4096)
    assert head.startswith(b"HTTP/1.1 101"), head
    payload = orjson.dumps({"type": "join-room", "requestId": "1", "data": {}})
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    await loop.sock_sendall(sock, struct.pack("!BB", 0x81, 0x80 | len(payload)) + mask + masked)
    return sock


async def test_a_silent_client_is_dropped_by_the_heartbeat_and_its_peer_cleaned_up() -> None:
    running = await start_server(limits=Limits(heartbeat_seconds=0.3, room_grace_seconds=0.2))
    registry = running.sfu.registry
    try:
        async with aiohttp.ClientSession() as http:
            watcher = SignalingClient(http)
            await watcher.connect(running.ws_url, running.token("hb", "watcher"))
            await watcher.join()
            ghost = await raw_websocket(running, "hb", "ghost")  # joins, then never answers a ping
            await watcher.wait_event("peer-joined")
            left = await watcher.wait_event("peer-left")
            assert left["userId"] == "ghost"
            room = registry.get("hb")
            assert room is not None and list(room.peers) == ["watcher"]
            assert ("hb", "ghost") not in running.sfu.signaling.connections
            ghost.close()
            await watcher.close()

            async def room_gone() -> bool:
                return not registry.all()

            await eventually(room_gone, what="the room to close after its last peer")
    finally:
        await running.stop()


async def test_a_client_whose_tcp_connection_is_reset_is_cleaned_up() -> None:
    running = await start_server(limits=Limits(room_grace_seconds=0.2))
    registry = running.sfu.registry
    try:
        async with aiohttp.ClientSession() as http:
            watcher = SignalingClient(http)
            await watcher.connect(running.ws_url, running.token("rst", "watcher"))
            await watcher.join()
            ghost = await raw_websocket(running, "rst", "ghost")
            await watcher.wait_event("peer-joined")
            ghost.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            ghost.close()  # RST, no close frame
            assert (await watcher.wait_event("peer-left"))["userId"] == "ghost"
            await watcher.close()

            async def room_gone() -> bool:
                return not registry.all()

            await eventually(room_gone, what="the room to close after its last peer")
    finally:
        await running.stop()
