"""Real topologies in network namespaces: a real `sfuctl serve` on a "public" host (and one behind
a cloud-style 1:1 NAT), pymediasoup clients on the internet and behind a home NAT, each
decoding the other's video and audio. Which candidate pair carried the media is recorded.

Scenarios that need TURN (a client whose network drops UDP) and HTTPS (the browser) join this
file with those features.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from sfuctl.server.auth import mint_token
from tests.conftest import TEST_SECRET
from tests.lab.topology import Host, Lab

pytestmark = [pytest.mark.worker, pytest.mark.timeout(300)]

BIN = Path(sys.executable).parent
PORT = 3001
FRAMES = 20


@dataclass
class World:
    lab: Lab
    server: Host
    cloud: Host
    cloud_public: str
    alice: Host
    bob: Host
    home: Host


def serve(lab: Lab, host: Host, announced: str) -> subprocess.Popen[str]:
    return lab.spawn(
        host,
        [str(BIN / "sfuctl"), "serve", "--host", "0.0.0.0", "--port", str(PORT), "--workers", "1",
         "--rtc-ip", host.address, "--announced-address", announced,
         "--rtc-min-port", "40000", "--rtc-max-port", "40999"],
        env=dict(os.environ, SFUCTL_SECRET=TEST_SECRET),
    )  # fmt: skip


def wait_reachable(lab: Lab, client: Host, address: str, server: subprocess.Popen[str]) -> None:
    """The server answers /health from ``client``'s side of the network (bounded)."""
    url = f"http://{address}:{PORT}/health"
    for _ in range(60):
        if server.poll() is not None:
            raise AssertionError(f"the server exited: {server.communicate()[0][-2000:]}")
        probe = subprocess.run(
            ["ip", "netns", "exec", client.namespace, "curl", "-sf", "--max-time", "1", url],
            capture_output=True, text=True, timeout=10,
        )  # fmt: skip
        if probe.returncode == 0 and b'"status"' in probe.stdout.encode():
            return
        time.sleep(0.5)
    raise AssertionError(f"{url} never answered from {client.name}")


@pytest.fixture(scope="module")
def world(lab: Lab) -> Iterator[World]:
    server = lab.public_host("srv", 10)
    alice = lab.public_host("alice", 20)
    bob = lab.public_host("bob", 21)
    home = lab.nat_client("home", 30, 1)
    cloud, cloud_public = lab.cloud_server("cloud", 50, 3)
    servers = [serve(lab, server, server.address), serve(lab, cloud, cloud_public)]
    wait_reachable(lab, alice, server.address, servers[0])
    wait_reachable(lab, home, cloud_public, servers[1])
    yield World(lab, server, cloud, cloud_public, alice, bob, home)


def call(world: World, server_address: str, room: str, hosts: list[Host]) -> list[dict[str, object]]:
    """Every host joins ``room`` and decodes the others; their reports, once all have one."""
    peers = []
    for host in hosts:
        token, _ = mint_token(TEST_SECRET, room, host.name)
        argv = [sys.executable, "-m", "tests.lab.peer", "--ws", f"ws://{server_address}:{PORT}/",
                "--token", token, "--others", str(len(hosts) - 1), "--frames", str(FRAMES)]  # fmt: skip
        peers.append(world.lab.spawn(host, argv))
    reports = []
    try:
        for host, peer in zip(hosts, peers, strict=True):
            assert peer.stdout is not None
            lines = []
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                line = peer.stdout.readline()
                if not line:
                    break
                lines.append(line)
                if line.startswith("{"):
                    report = orjson.loads(line)
                    report["host"] = host.name
                    reports.append(report)
                    break
            else:
                raise AssertionError(f"{host.name} gave no report: {''.join(lines)[-2000:]}")
            assert reports and reports[-1]["host"] == host.name, "".join(lines)[-2000:]
    finally:
        for peer in peers:
            if peer.stdin is not None:
                peer.stdin.close()
        for peer in peers:
            try:
                peer.wait(timeout=30)
            except subprocess.TimeoutExpired:
                peer.kill()
    for report in reports:
        print(f"\n{room}: {report}")
    return reports


def assert_media(report: dict[str, object]) -> None:
    assert report["ok"], report
    assert report["video_frames"] >= FRAMES and report["audio_frames"] >= 2 * FRAMES, report


def test_two_clients_on_the_internet(world: World) -> None:
    for report in call(world, world.server.address, "public", [world.alice, world.bob]):
        assert_media(report)
        for direction in ("send", "recv"):
            pair = report[direction]
            assert isinstance(pair, dict) and pair["local"] == "host", report
            assert str(pair["remote"]).startswith(world.server.address + ":"), report


def test_a_client_behind_a_home_nat(world: World) -> None:
    reports = call(world, world.server.address, "home", [world.home, world.alice])
    for report in reports:
        assert_media(report)
    home = next(r for r in reports if r["host"] == "home")
    pair = home["recv"]
    assert isinstance(pair, dict)
    # its own private host candidate, mapped by the NAT; the server learns the mapping from ICE
    assert pair["local"] == "host" and str(pair["localAddress"]).startswith(world.home.address + ":")
    assert str(pair["remote"]).startswith(world.server.address + ":")


def test_a_server_behind_a_cloud_1to1_nat_with_an_announced_address(world: World) -> None:
    reports = call(world, world.cloud_public, "cloud", [world.home, world.alice])
    for report in reports:
        assert_media(report)
        pair = report["recv"]
        assert isinstance(pair, dict)
        assert str(pair["remote"]).startswith(world.cloud_public + ":"), report  # not its private address
