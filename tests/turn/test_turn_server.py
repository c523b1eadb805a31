"""sfuctl with --turn: coturn started and stopped with the server, credentials in join-room, and
media from a relay-only pymediasoup client through coturn to the SFU."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from sfuctl.server.turn.credentials import mint_credential
from sfuctl.server.turn.settings import TurnSettings
from tests.conftest import TEST_SECRET, RunningServer, free_port, process_exists, start_server
from tests.integration.test_serve import SFUCTL, wait_for_health
from tests.media_client import MovingVideoTrack, receive_frames
from tests.signaling_client import Peer
from tests.turn.test_coturn import RELAY, SECRET, allocation_error, coturn

pytestmark = pytest.mark.skipif(
    shutil.which("turnserver") is None, reason="coturn is not installed (make setup)"
)


@pytest.fixture
async def turn_server() -> AsyncIterator[RunningServer]:
    turn = TurnSettings(
        enabled=True, port=free_port(), listen_ip="127.0.0.1",
        relay_min_port=RELAY[0], relay_max_port=RELAY[1], credential_ttl_seconds=600, secret=SECRET,
    )  # fmt: skip
    running = await start_server(turn=turn)
    yield running
    assert running.sfu.turn is not None
    pid = running.sfu.turn.pid
    await running.stop()
    assert pid is not None and not process_exists(pid)


async def test_join_room_carries_the_peer_turn_credential(turn_server: RunningServer) -> None:
    peer = Peer()
    joined = await peer.join(turn_server.ws_url, turn_server.token("room1", "ada"))
    await peer.close()
    port = turn_server.config.turn.port
    [server] = joined["iceServers"]
    assert server["urls"] == [f"turn:127.0.0.1:{port}?transport=udp", f"turn:127.0.0.1:{port}?transport=tcp"]
    expiry, _, user = server["username"].partition(":")
    assert user == "ada"
    assert server["credential"] == mint_credential(SECRET, "ada", 0, now=int(expiry)).credential


async def test_health_and_metrics_show_the_turn_server(turn_server: RunningServer) -> None:
    assert turn_server.sfu.turn is not None
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{turn_server.url}/health") as response:
            health = await response.json()
        async with http.get(f"{turn_server.url}/metrics") as response:
            metrics = await response.text()
    from sfuctl.server.http.models import Health

    Health.model_validate(health)
    assert health["status"] == "ok"
    assert health["turn"]["running"] is True and health["turn"]["pid"] == turn_server.sfu.turn.pid
    assert health["turn"]["restarts"] == 0
    assert "sfuctl_turn_up 1.0" in metrics and "sfuctl_turn_restarts_total 0.0" in metrics
    shown = await asyncio.create_subprocess_exec(
        SFUCTL, "health", "--url", turn_server.url, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(shown.communicate(), 20)
    assert shown.returncode == 0, output
    assert f"TURN (coturn): running pid {turn_server.sfu.turn.pid}" in output.decode(), output


async def test_without_turn_ice_servers_is_empty(server: RunningServer) -> None:
    peer = Peer()
    joined = await peer.join(server.ws_url, server.token("room1", "ada"))
    await peer.close()
    assert joined["iceServers"] == []
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{server.url}/asyncapi", headers={"Accept": "application/json"}) as response,
    ):
        schemas = (await response.json())["components"]["schemas"]
    assert schemas["JoinRoomResult"]["properties"]["iceServers"]["items"] == {
        "$ref": "#/components/schemas/IceServer"
    }
    assert set(schemas["IceServer"]["properties"]) == {"urls", "username", "credential"}
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/health") as response:
        assert "turn" not in await response.json()


async def test_relay_only_client_sends_media_through_coturn(turn_server: RunningServer) -> None:
    """A publisher that may use relay candidates only: its media reaches the SFU from coturn's
    relay ports, and a subscriber decodes it."""
    video = MovingVideoTrack()
    alice = Peer([video], ice_transport_policy="relay")
    await alice.join(turn_server.ws_url, turn_server.token("room1", "alice"))
    video_id = await alice.produce(video)
    bob = Peer(ice_transport_policy="relay")
    await bob.join(turn_server.ws_url, turn_server.token("room1", "bob"))
    try:
        _, consumer = await bob.consume(video_id)
        frames = await receive_frames(consumer.track, 5)
        assert frames[-1].width == 320
        room = turn_server.sfu.registry.get("room1")
        assert room is not None
        for user in ("alice", "bob"):
            [transport] = room.peers[user].transports.values()
            selected = transport.ice_selected_tuple
            assert selected is not None, user
            # the SFU sees its peer at a coturn relay address: the pair is a relayed one
            assert selected["remoteIp"] == "127.0.0.1" and RELAY[0] <= selected["remotePort"] <= RELAY[1], (
                selected
            )
    finally:
        await alice.close()
        await bob.close()


def test_serve_turn_runs_coturn_keeps_its_secret_and_stops_it(tmp_path: Path) -> None:
    """`sfuctl serve --turn` as a user runs it: the TURN secret generated 0600 in the config dir,
    coturn in /health, and gone after SIGTERM."""
    port, turn_port = free_port(), free_port()
    env = dict(os.environ, SFUCTL_SECRET=TEST_SECRET, XDG_CONFIG_HOME=str(tmp_path))
    env.pop("SFUCTL_TURN_SECRET", None)
    proc = subprocess.Popen(
        [SFUCTL, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--rtc-ip", "127.0.0.1", "--turn", "--turn-ip", "127.0.0.1", "--turn-port", str(turn_port),
         "--turn-min-port", str(RELAY[0]), "--turn-max-port", str(RELAY[1])],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        health = wait_for_health(port, proc)
        turn = health["turn"]
        assert isinstance(turn, dict) and turn["running"] is True
        pid = turn["pid"]
        assert process_exists(pid)
        secret_file = tmp_path / "sfuctl" / "turn-secret"
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        assert len(secret_file.read_text().strip()) >= 32
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            assert "sfuctl_turn_up 1.0" in response.read().decode()
        os.killpg(proc.pid, signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, output
    assert f"TURN: coturn on {turn_port} udp+tcp" in output and str(secret_file) in output, output
    assert not process_exists(pid)


def test_coturn_does_not_outlive_a_killed_server(tmp_path: Path) -> None:
    """SIGKILL leaves sfuctl no chance to stop coturn: the kernel does it (PR_SET_PDEATHSIG)."""
    port = free_port()
    env = dict(os.environ, SFUCTL_SECRET=TEST_SECRET, XDG_CONFIG_HOME=str(tmp_path))
    proc = subprocess.Popen(
        [SFUCTL, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--rtc-ip", "127.0.0.1", "--turn", "--turn-ip", "127.0.0.1", "--turn-port", str(free_port())],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    try:
        turn = wait_for_health(port, proc)["turn"]
        assert isinstance(turn, dict)
        pid = turn["pid"]
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while process_exists(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not process_exists(pid)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_serve_turn_port_in_use_is_one_error_line(tmp_path: Path) -> None:
    turn_port = free_port()
    env = dict(os.environ, SFUCTL_SECRET=TEST_SECRET, XDG_CONFIG_HOME=str(tmp_path))
    blocker = await asyncio.get_running_loop().create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", turn_port)
    )
    try:
        proc = await asyncio.create_subprocess_exec(
            SFUCTL, "serve", "--host", "127.0.0.1", "--port", str(free_port()), "--workers", "1",
            "--rtc-ip", "127.0.0.1", "--turn", "--turn-ip", "127.0.0.1", "--turn-port", str(turn_port),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        blocker[0].close()
    text = output.decode()
    assert proc.returncode == 2, text
    lines = [line for line in text.splitlines() if line.startswith(("error:", "hint:"))]
    assert len(lines) == 2 and lines[0].startswith("error: coturn") and "--turn-port" in lines[1], text


async def test_doctor_checks_the_turn_port(tmp_path: Path) -> None:
    turn_port = free_port()
    config = tmp_path / "sfuctl.toml"
    config.write_text(
        f'port = {free_port()}\n[turn]\nenabled = true\nport = {turn_port}\nlisten_ip = "127.0.0.1"\n'
    )
    env = dict(os.environ, SFUCTL_SECRET=TEST_SECRET, XDG_CONFIG_HOME=str(tmp_path))

    async def turn_check() -> dict[str, str]:
        proc = await asyncio.create_subprocess_exec(
            SFUCTL, "doctor", "--no-start", "--json", "--config", str(config),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(proc.communicate(), 30)
        [check] = [c for c in json.loads(output)["checks"] if c["name"] == "TURN server"]
        return dict(check)

    assert (await turn_check())["status"] == "ok"
    blocker, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", turn_port)
    )
    try:
        busy = await turn_check()
    finally:
        blocker.close()
    assert (
        busy["status"] == "fail"
        and f"UDP port {turn_port}" in busy["detail"]
        and "--turn-port" in busy["fix"]
    )


async def test_doctor_turn_flags_check_what_serve_turn_would_bind(tmp_path: Path) -> None:
    """`sfuctl doctor --turn` (flags or SFUCTL_TURN, no config file): the UDP/TCP port, the turns:
    port when TLS is on, and the relay range are checked."""
    turn_port, tls_port = free_port(), free_port()
    env = dict(os.environ, SFUCTL_SECRET=TEST_SECRET, XDG_CONFIG_HOME=str(tmp_path))

    async def checks(*flags: str) -> dict[str, dict[str, str]]:
        proc = await asyncio.create_subprocess_exec(
            SFUCTL, "doctor", "--no-start", "--json", "--port", str(free_port()),
            "--turn-ip", "127.0.0.1", "--turn-port", str(turn_port), *flags,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        output, errors = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode in (0, 1), errors.decode()
        return {c["name"]: c for c in json.loads(output)["checks"]}

    async def turn_check(*flags: str) -> dict[str, str]:
        return (await checks(*flags))["TURN server"]

    assert (await turn_check())["detail"].startswith("not used")
    ok = await turn_check("--turn", "--tls", "--turn-tls-port", str(tls_port))
    assert ok["status"] == "ok" and str(turn_port) in ok["detail"] and str(tls_port) in ok["detail"], ok
    assert "50000-50999" in ok["detail"], ok
    with socket.create_server(("127.0.0.1", tls_port)):
        busy = await turn_check("--turn", "--tls", "--turn-tls-port", str(tls_port))
    assert busy["status"] == "fail" and f"TCP port {tls_port}" in busy["detail"], busy
    assert "--turn-tls-port" in busy["fix"], busy
    inverted = (await checks("--turn", "--turn-min-port", "50010", "--turn-max-port", "50000"))["config file"]
    assert inverted["status"] == "fail" and "relay port range 50010-50000" in inverted["detail"], inverted


async def test_external_ice_server_gets_credentials_that_coturn_accepts() -> None:
    """--ice-server pointing at your own coturn (same TURN secret): no managed coturn, and the
    join-room credential allocates on that coturn."""
    async with coturn(["127.0.0.1"]) as external:
        port = external.config.settings.port
        urls = [f"turn:127.0.0.1:{port}?transport=udp", f"stun:127.0.0.1:{port}"]
        server = await start_server(turn=TurnSettings(ice_servers=urls, secret=SECRET))
        try:
            assert server.sfu.turn is None
            peer = Peer()
            joined = await peer.join(server.ws_url, server.token("room1", "ada"))
            await peer.close()
        finally:
            await server.stop()
        turn, stun = joined["iceServers"]
        assert await allocation_error(port, turn["username"], turn["credential"]) is None
    assert turn["urls"] == urls[:1] and stun == {"urls": urls[1:]}
    assert turn["username"].endswith(":ada")
