"""Real topologies in network namespaces: a real `sfuctl serve` on a "public" host, one behind a
cloud-style 1:1 NAT, and a field deployment (`sfuctl serve --tls --turn`, coturn on the server
host); pymediasoup clients on the internet, behind a home NAT and behind firewalls that drop all
UDP, and Debian's chromium in a client namespace, each decoding the others' video and audio.
Which candidate pair carried the media is recorded (and printed with ``-s``).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from playwright.async_api import async_playwright

from sfuctl.server.auth import mint_token
from sfuctl.server.tls.certificate import CERT_NAME, inspect
from sfuctl.server.turn.credentials import mint_credential
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, new_call
from tests.browser.conftest import built_page as built_page  # the page's bundle, built if stale
from tests.conftest import TEST_SECRET
from tests.lab.topology import Host, Lab

pytestmark = [pytest.mark.worker, pytest.mark.timeout(300)]

BIN = Path(sys.executable).parent
PORT = 3001
FRAMES = 20
TURN_PORT, TURN_TLS_PORT, RELAY_PORTS = 3478, 5349, (50000, 50999)
"""The managed coturn's defaults: the field server runs `sfuctl serve --tls --turn` as documented."""
TURN_SECRET = "lab-turn-secret-0123456789-abcdefghijklmnopqrstuvwxyz"


@dataclass
class World:
    lab: Lab
    server: Host
    cloud: Host
    cloud_public: str
    edge: Host
    """The field deployment: HTTPS/WSS with a generated certificate, and a managed coturn."""
    cert: Path
    alice: Host
    bob: Host
    home: Host
    corp: Host
    hotel: Host
    """Two clients whose firewalls drop all UDP."""
    carol: Host
    """Where the browser runs."""

    @property
    def edge_env(self) -> dict[str, str]:
        """A client's environment that trusts the field server's certificate (WSS and turns:)."""
        return dict(os.environ, SSL_CERT_FILE=str(self.cert))


@dataclass
class Server:
    process: subprocess.Popen[str]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def serve(lab: Lab, host: Host, announced: str, logs: Path, *extra: str) -> Server:
    log = logs / f"{host.name}.log"
    process = lab.spawn(
        host,
        [str(BIN / "sfuctl"), "serve", "--host", "0.0.0.0", "--port", str(PORT), "--workers", "1",
         "--rtc-ip", host.address, "--announced-address", announced,
         "--rtc-min-port", "40000", "--rtc-max-port", "40999", *extra],
        env=dict(os.environ, SFUCTL_SECRET=TEST_SECRET, SFUCTL_TURN_SECRET=TURN_SECRET), log=log,
    )  # fmt: skip
    return Server(process, log)


def wait_reachable(client: Host, url: str, server: Server, cacert: Path | None = None) -> None:
    """The server answers /health from ``client``'s side of the network (bounded)."""
    trust = ["--cacert", str(cacert)] if cacert else []
    for _ in range(80):
        if server.process.poll() is not None:
            raise AssertionError(f"the server exited: {server.output()}")
        curl = ["curl", "-sf", "--max-time", "1", *trust, f"{url}/health"]
        probe = subprocess.run(
            ["ip", "netns", "exec", client.namespace, *curl], capture_output=True, text=True, timeout=10
        )
        if probe.returncode == 0 and '"status":"ok"' in probe.stdout.replace(" ", ""):
            return
        time.sleep(0.5)
    raise AssertionError(f"{url}/health never answered from {client.name}: {server.output()}")


@pytest.fixture(scope="module")
def world(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = lab.public_host("srv", 10)
    edge = lab.public_host("edge", 11)
    alice = lab.public_host("alice", 20)
    bob = lab.public_host("bob", 21)
    carol = lab.public_host("carol", 22)
    home = lab.nat_client("home", 30, 1)
    corp = lab.nat_client("corp", 40, 2, drop_udp=True)
    hotel = lab.nat_client("hotel", 41, 4, drop_udp=True)
    cloud, cloud_public = lab.cloud_server("cloud", 50, 3)
    # the README's ports to open with --tls --turn, and nothing else (no TURN relay port)
    lab.host_firewall(
        edge, tcp=f"{PORT}, {TURN_PORT}, {TURN_TLS_PORT}, 40000-40999", udp=f"{TURN_PORT}, 40000-40999",
        output=f"ip daddr {edge.address} udp sport {RELAY_PORTS[0]}-{RELAY_PORTS[1]} udp dport != 40000-40999"
        ' counter name "dropped" drop;',  # the README's rule: relays reach the SFU's RTC ports only
    )  # fmt: skip
    tls_dir, logs = tmp_path_factory.mktemp("edge-tls"), tmp_path_factory.mktemp("logs")
    servers = [
        serve(lab, server, server.address, logs),
        serve(lab, cloud, cloud_public, logs),
        serve(lab, edge, edge.address, logs, "--tls", "--tls-dir", str(tls_dir), "--turn"),
    ]
    wait_reachable(alice, f"http://{server.address}:{PORT}", servers[0])
    wait_reachable(home, f"http://{cloud_public}:{PORT}", servers[1])
    cert = tls_dir / CERT_NAME
    wait_reachable(carol, f"https://{edge.address}:{PORT}", servers[2], cacert=cert)
    yield World(lab, server, cloud, cloud_public, edge, cert, alice, bob, home, corp, hotel, carol)


def start_peer(
    world: World, host: Host, ws: str, room: str, others: int, extra: list[str], env: dict[str, str] | None
) -> subprocess.Popen[str]:
    token, _ = mint_token(TEST_SECRET, room, host.name)
    argv = [sys.executable, "-m", "tests.lab.peer", "--ws", ws, "--token", token,
            "--others", str(others), "--frames", str(FRAMES), "--timeout", "60", *extra]  # fmt: skip
    return world.lab.spawn(host, argv, env=env)


def read_report(host: Host, peer: subprocess.Popen[str], timeout: float = 90) -> dict[str, Any]:
    """The peer's JSON line (it prints one once it has decoded the others, or failed)."""
    assert peer.stdout is not None
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = peer.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("{"):
            report: dict[str, Any] = orjson.loads(line)
            report["host"] = host.name
            return report
    raise AssertionError(f"{host.name} gave no report: {''.join(lines)[-2000:]}")


def finish(peers: list[subprocess.Popen[str]]) -> None:
    """Let every peer leave (stdin closed), bounded."""
    for peer in peers:
        if peer.stdin is not None:
            peer.stdin.close()
    for peer in peers:
        try:
            peer.wait(timeout=30)
        except subprocess.TimeoutExpired:
            peer.kill()


def call(
    world: World,
    ws: str,
    room: str,
    hosts: list[Host],
    extra: dict[str, list[str]] | None = None,
    env: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Every host joins ``room`` and decodes the others; their reports, once all have one."""
    peers = [
        start_peer(world, host, ws, room, len(hosts) - 1, (extra or {}).get(host.name, []), env)
        for host in hosts
    ]
    try:
        reports = [read_report(host, peer) for host, peer in zip(hosts, peers, strict=True)]
    finally:
        finish(peers)
    for report in reports:
        print(f"\n{room}: {report}")
    return reports


def assert_media(report: dict[str, Any]) -> None:
    assert report["ok"], report
    assert report["video_frames"] >= FRAMES and report["audio_frames"] >= 2 * FRAMES, report


def test_two_clients_on_the_internet(world: World) -> None:
    for report in call(world, f"ws://{world.server.address}:{PORT}/", "public", [world.alice, world.bob]):
        assert_media(report)
        assert report["iceServers"] == []  # no TURN on this server, and nothing public
        for direction in ("send", "recv"):
            pair = report[direction]
            assert isinstance(pair, dict) and pair["local"] == "host", report
            assert str(pair["remote"]).startswith(world.server.address + ":"), report


def test_a_client_behind_a_home_nat(world: World) -> None:
    reports = call(world, f"ws://{world.server.address}:{PORT}/", "home", [world.home, world.alice])
    for report in reports:
        assert_media(report)
    home = next(r for r in reports if r["host"] == "home")
    pair = home["recv"]
    assert isinstance(pair, dict)
    # its own private host candidate, mapped by the NAT; the server learns the mapping from ICE
    assert pair["local"] == "host" and str(pair["localAddress"]).startswith(world.home.address + ":")
    assert str(pair["remote"]).startswith(world.server.address + ":")


def test_a_server_behind_a_cloud_1to1_nat_with_an_announced_address(world: World) -> None:
    reports = call(world, f"ws://{world.cloud_public}:{PORT}/", "cloud", [world.home, world.alice])
    for report in reports:
        assert_media(report)
        pair = report["recv"]
        assert isinstance(pair, dict)
        assert str(pair["remote"]).startswith(world.cloud_public + ":"), report  # not its private address


def stun_answers_from(host: Host, address: str, port: int) -> bool:
    """Whether coturn answers a STUN Binding over UDP from ``host``'s network (2 s at most)."""
    probe = (
        "import asyncio, sys; from sfuctl.server.turn.probe import stun_answers; "
        f"sys.exit(0 if asyncio.run(stun_answers({address!r}, {port}, 2.0)) else 1)"
    )
    ran = subprocess.run(
        ["ip", "netns", "exec", host.namespace, sys.executable, "-c", probe], capture_output=True, timeout=30
    )
    return ran.returncode == 0


def test_clients_whose_firewalls_drop_udp_relay_through_turn_over_tcp_and_tls(world: World) -> None:
    edge = world.edge.address
    # the premise: coturn answers UDP from the internet, and these firewalls let no UDP through
    assert stun_answers_from(world.alice, edge, TURN_PORT)
    assert not stun_answers_from(world.corp, edge, TURN_PORT)
    relay_only = ["--relay", "--turn-transport"]
    reports = call(
        world, f"wss://{edge}:{PORT}/", "udp-blocked", [world.corp, world.hotel],
        extra={"corp": [*relay_only, "tcp"], "hotel": [*relay_only, "tls"]}, env=world.edge_env,
    )  # fmt: skip
    expected = {"corp": ("tcp", f"turn:{edge}:{TURN_PORT}?transport=tcp", TURN_PORT),
                "hotel": ("tls", f"turns:{edge}:{TURN_TLS_PORT}?transport=tcp", TURN_TLS_PORT)}  # fmt: skip
    for report in reports:
        assert_media(report)
        transport, url, port = expected[report["host"]]
        assert report["iceServers"] == [url], report  # from join-room: our coturn, nothing public
        for direction in ("send", "recv"):
            pair = report[direction]
            assert pair["local"] == "relay" and pair["turn"] == transport, report
            assert pair["turnServer"] == f"{edge}:{port}", report
            relay, relay_port = str(pair["localAddress"]).rsplit(":", 1)
            assert relay == edge and RELAY_PORTS[0] <= int(relay_port) <= RELAY_PORTS[1], report
            assert str(pair["remote"]).startswith(edge + ":"), report  # the SFU, through the relay


def test_a_valid_turn_credential_relays_to_the_sfu_and_nowhere_else(world: World) -> None:
    """Not an open relay, on a real network: from behind a UDP-dropping firewall, over TCP, a valid
    credential relays to the SFU's media address only: not to another host on the internet,
    another SFU, a private network, or the TURN host's own loopback. coturn checks the address,
    not the port: the README's firewall rule drops what a relay sends to another port of it."""
    edge = world.edge.address
    minted = mint_credential(TURN_SECRET, "corp", 600)
    sfu, other_port = f"{edge}:40000", f"{edge}:5000"
    others = [f"{world.alice.address}:5000", f"{world.cloud_public}:40000", f"{world.home.address}:5000",
              "127.0.0.1:3001"]  # fmt: skip
    argv = [sys.executable, "-m", "tests.lab.relay_probe", "--server", f"{edge}:{TURN_PORT}",
            "--username", minted.username, "--password", minted.credential,
            sfu, other_port, *others]  # fmt: skip
    dropped = world.lab.dropped(world.edge)
    probe = world.lab.spawn(world.corp, argv)
    output, _ = probe.communicate(timeout=60)
    assert probe.returncode == 0, output[-2000:]
    answers = orjson.loads(output.strip().splitlines()[-1])
    assert answers == {sfu: None, other_port: None, **dict.fromkeys(others, 403)}, answers  # 403 Forbidden
    assert world.lab.dropped(world.edge) == dropped + 1  # the datagram to port 5000, and nothing else


SELECTED_PAIRS = """async () => {
  const found = {};
  for (const [direction, pc] of Object.entries(sfuctlDebug.pcs())) {
    if (!pc) return null;
    const stats = [...(await pc.getStats()).values()];
    const transport = stats.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
    const pair = transport && stats.find((s) => s.id === transport.selectedCandidatePairId);
    if (!pair || pair.state !== 'succeeded') return null;
    const local = stats.find((s) => s.id === pair.localCandidateId);
    const remote = stats.find((s) => s.id === pair.remoteCandidateId);
    found[direction] = {local: local.candidateType, protocol: local.protocol,
                        localAddress: `${local.address}:${local.port}`,
                        remote: `${remote.address}:${remote.port}`};
  }
  return found;
}"""


@pytest.mark.usefixtures("built_page")
async def test_a_browser_opens_the_https_page_and_calls_a_client_behind_a_home_nat(
    world: World, tmp_path: Path
) -> None:
    """Chromium runs in carol's namespace (a wrapper as its executable; Playwright drives it over
    pipes), trusts the generated certificate by its public-key hash, and calls home over HTTPS."""
    edge = world.edge.address
    chromium = tmp_path / "chromium-in-namespace"
    chromium.write_text(f'#!/bin/sh\nexec ip netns exec {world.carol.namespace} {CHROMIUM} "$@"\n')
    chromium.chmod(0o755)
    spki = inspect(world.cert).spki_sha256
    home = start_peer(world, world.home, f"wss://{edge}:{PORT}/", "browser", 1, [], world.edge_env)
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(chromium), headless=True, timeout=30_000,
                args=[*CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={spki}"],
            )  # fmt: skip
            page = await new_call(browser, "carol")
            try:
                token, _ = mint_token(TEST_SECRET, "browser", "carol", "Carol")
                await page.page.goto(f"https://{edge}:{PORT}/?token={token}")
                assert await page.user_id() == "carol"
                assert await page.js("window.isSecureContext && location.protocol") == "https:"
                await page.wait_media_from("home", frames=FRAMES, packets=2 * FRAMES, timeout=60)
                pairs = await page.wait(SELECTED_PAIRS)
                configured = await page.js("sfuctlDebug.pcs().send.getConfiguration().iceServers")
                report = await asyncio.to_thread(read_report, world.home, home)
            finally:
                for line in page.log:
                    print(line)
                await browser.close()
    finally:
        finish([home])
    print(f"\nbrowser: carol {pairs}\nbrowser: {report}")
    urls = [url for server in configured for url in server["urls"]]
    assert urls == [f"turn:{edge}:{TURN_PORT}?transport=udp", f"turn:{edge}:{TURN_PORT}?transport=tcp",
                    f"turns:{edge}:{TURN_TLS_PORT}?transport=tcp"], configured  # fmt: skip
    for direction in ("send", "recv"):
        assert pairs[direction]["remote"].startswith(edge + ":"), pairs
    assert_media(report)
    assert str(report["recv"]["remote"]).startswith(edge + ":"), report


def test_the_field_server_lets_in_only_the_ports_the_readme_lists(world: World) -> None:
    """The premise of the field scenarios: its firewall is real. A port nobody listens on is
    refused (curl exit 7) on a host without one and times out (28, dropped) on the field server."""

    def curl(address: str, port: int) -> int:
        argv = ["curl", "-s", "--max-time", "1", f"http://{address}:{port}/"]
        command = ["ip", "netns", "exec", world.alice.namespace, *argv]
        return subprocess.run(command, capture_output=True, timeout=10).returncode

    assert curl(world.server.address, PORT + 1) == 7
    assert curl(world.edge.address, PORT + 1) == 28
