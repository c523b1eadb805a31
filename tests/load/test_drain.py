"""SIGTERM drains a real `sfuctl serve`: no new joins, peers told, then a clean exit."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

import aiohttp
import pytest

from sfuctl.client import SignalingClient
from sfuctl.server.auth import mint_token
from sfuctl.server.limits import Limits
from tests.conftest import TEST_SECRET, free_port, process_exists, start_server
from tests.integration.test_serve import SFUCTL, wait_for_health
from tests.raw_websocket import RawWebSocket


def token(room: str, user: str) -> str:
    return mint_token(TEST_SECRET, room, user)[0]


async def test_sigterm_drains_then_exits_cleanly() -> None:
    port = free_port()
    env = dict(os.environ, SFUCTL_SECRET=TEST_SECRET)
    proc = subprocess.Popen(  # noqa: ASYNC220 (starting it does not block)
        [SFUCTL, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2",
         "--rtc-ip", "127.0.0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    url, ws_url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/"
    try:
        health = await asyncio.to_thread(wait_for_health, port, proc)
        pids = [w["pid"] for w in health["workers"]]  # type: ignore[attr-defined]
        async with aiohttp.ClientSession() as http:
            peers = [SignalingClient(http) for _ in range(3)]
            for i, peer in enumerate(peers):
                await peer.connect(ws_url, token("drain", f"u{i}"))
                await peer.join()
            send = await peers[0].create_transport("send")
            await peers[0].produce_audio(send["id"])
            proc.send_signal(signal.SIGTERM)
            for peer in peers:
                assert (await peer.wait_event("room-closed"))["reason"] == "shutdown"
            # still draining (the peers have not left): no new upgrades, health says so
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(f"{ws_url}?token={token('drain', 'late')}")
            assert refused.value.status == 503
            async with http.get(f"{url}/health") as resp:
                assert (await resp.json())["status"] == "draining"
            for peer in peers:
                await peer.close()
        output, _ = await asyncio.to_thread(proc.communicate, timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, output
    assert "draining: 3 peers in 1 rooms" in output
    assert not any(process_exists(pid) for pid in pids)


async def test_drain_disconnects_peers_still_there_at_the_deadline() -> None:
    running = await start_server(limits=Limits(room_grace_seconds=0.2))
    try:
        async with aiohttp.ClientSession() as http:
            stubborn = SignalingClient(http)
            await stubborn.connect(running.ws_url, running.token("r", "stubborn"))
            await stubborn.join()
            idle = SignalingClient(http)  # connected, not joined: join-room is refused while draining
            await idle.connect(running.ws_url, running.token("r2", "idle"))
            draining = asyncio.get_running_loop().create_task(running.sfu.drain(deadline=0.5))
            assert (await stubborn.wait_event("room-closed"))["reason"] == "shutdown"
            with pytest.raises(Exception, match="not_joined"):
                await idle.join()
            await draining
            assert stubborn.ws is not None and idle.ws is not None
            await asyncio.wait_for(stubborn._reader, 5)  # type: ignore[arg-type]
            assert stubborn.close_code == aiohttp.WSCloseCode.GOING_AWAY
            assert not running.sfu.registry.all()
            assert not running.sfu.signaling.connections
    finally:
        await running.stop()


async def test_sigterm_exits_by_the_drain_deadline_whatever_a_stalled_client_does(tmp_path: Path) -> None:
    """Break 2: a client whose socket takes nothing more must not hold the shutdown past its deadline."""
    config = tmp_path / "sfuctl.toml"
    config.write_text(
        "drain_seconds = 2.0\n[limits]\noutbound_queue = 100000\nheartbeat_seconds = 60.0\n"
        "requests_per_second = 10000.0\nrequest_burst = 10000\n"
        "max_outbox_bytes = 67108864\nmax_app_data_bytes = 65536\n"
    )
    port = free_port()
    env = dict(os.environ, SFUCTL_SECRET=TEST_SECRET)
    proc = subprocess.Popen(  # noqa: ASYNC220 (starting it does not block)
        [SFUCTL, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--rtc-ip", "127.0.0.1", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        await asyncio.to_thread(wait_for_health, port, proc)
        watcher = SignalingClient()
        await watcher.connect(f"ws://127.0.0.1:{port}/", token("stuck", "watcher"))
        await watcher.join()
        stuck = await RawWebSocket.connect(port, token("stuck", "stuck"))
        await stuck.request("join-room", {}, "1")
        await watcher.wait_event("peer-joined")
        send = await watcher.create_transport("send")
        for _ in range(100):  # ~6 MB: more than the socket buffers hold
            producer_id = await watcher.produce_audio(send["id"], {"blob": "x" * 60_000})
            await watcher.request("close-producer", {"producerId": producer_id})
        proc.send_signal(signal.SIGTERM)
        try:
            output, _ = await asyncio.to_thread(proc.communicate, timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError("still running 30 s after SIGTERM (drain deadline 2 s)") from None
        stuck.close()
        await watcher.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, output
