"""The managed coturn, for real: its credentials, its relay restriction and media through it.

Everything on 127.0.0.1. The relay-restriction test names other addresses only as TURN peers
that coturn must refuse; no packet is ever sent to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import ssl
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aioice import stun
from aioice.turn import TurnClientTcpProtocol, TurnClientUdpProtocol

from sfuctl.server.turn.config import TurnServerConfig
from sfuctl.server.turn.credentials import mint_credential
from sfuctl.server.turn.settings import TurnSettings
from sfuctl.server.turn.supervisor import TurnSupervisor
from tests.conftest import free_port, process_exists

pytestmark = pytest.mark.skipif(
    shutil.which("turnserver") is None, reason="coturn is not installed (make setup)"
)

SECRET = "turn-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
RELAY = (58000, 58199)
ANSWER_TIMEOUT = 5.0
DENIED_PEERS = [
    ("10.1.2.3", 5000), ("192.168.1.1", 5000), ("172.16.0.1", 5000), ("224.0.0.251", 5353),
    ("169.254.169.254", 80), ("198.51.100.1", 40000),
]  # fmt: skip
"""Private, multicast, link-local (cloud metadata) and public addresses: none is the SFU."""


def turn_settings(**overrides: object) -> TurnSettings:
    return TurnSettings(
        enabled=True, port=free_port(), listen_ip="127.0.0.1",
        relay_min_port=RELAY[0], relay_max_port=RELAY[1], secret=SECRET, **overrides,  # type: ignore[arg-type]
    )  # fmt: skip


@contextlib.asynccontextmanager
async def coturn(peer_addresses: list[str], user_quota: int = 12) -> AsyncIterator[TurnSupervisor]:
    supervisor = TurnSupervisor(TurnServerConfig(turn_settings(), peer_addresses, user_quota, 100))
    await supervisor.start()
    try:
        yield supervisor
    finally:
        pid = supervisor.pid
        await supervisor.close()
        assert pid is None or not process_exists(pid)


@contextlib.asynccontextmanager
async def turn_client(
    port: int, username: str | None, password: str | None
) -> AsyncIterator[TurnClientUdpProtocol]:
    """A TURN client (aioice's, from aiortc) with a UDP socket to coturn; not yet allocated."""
    server = ("127.0.0.1", port)
    transport, client = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: TurnClientUdpProtocol(
            server, username=username, password=password, lifetime=600, channel_refresh_time=300
        ),
        remote_addr=server,
    )
    try:
        yield client
    finally:
        if client.relayed_address is not None:
            with contextlib.suppress(stun.TransactionError, ConnectionError):
                await asyncio.wait_for(client.delete(), ANSWER_TIMEOUT)
        transport.close()


async def allocation_error(port: int, username: str | None, password: str | None) -> int | None:
    """The STUN error code of an Allocate, or None when it succeeds."""
    async with turn_client(port, username, password) as client:
        try:
            await asyncio.wait_for(client.connect(), ANSWER_TIMEOUT)
        except stun.TransactionFailed as error:
            return int(error.response.error_code)
        return None


class Inbox(asyncio.DatagramProtocol):
    """A UDP socket the test owns: what arrives there, and from where."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        self.received.put_nowait((data, addr))


async def test_coturn_starts_answers_and_is_stopped() -> None:
    async with coturn(["127.0.0.1"]) as supervisor:
        status = supervisor.status()
        assert status["running"] and status["pid"] and status["restarts"] == 0
        pid = supervisor.pid
        assert pid is not None and os.getpgid(pid) == pid  # its own process group
    assert not process_exists(pid)


async def test_coturn_is_restarted_when_it_dies() -> None:
    async with coturn(["127.0.0.1"]) as supervisor:
        first = supervisor.pid
        assert first is not None
        os.kill(first, 9)

        async def restarted() -> None:
            while not (supervisor.restarts == 1 and supervisor.running and supervisor.pid != first):
                await asyncio.sleep(0.05)

        await asyncio.wait_for(restarted(), 10)
        assert await allocation_error(supervisor.config.settings.port, *valid_credential()) is None


def valid_credential(user: str = "ada", now: float | None = None) -> tuple[str, str]:
    minted = mint_credential(SECRET, user, 600, now)
    return minted.username, minted.credential


async def test_allocation_needs_a_valid_credential() -> None:
    async with coturn(["127.0.0.1"]) as supervisor:
        port = supervisor.config.settings.port
        assert await allocation_error(port, None, None) == 401
        username, _ = valid_credential()
        assert await allocation_error(port, username, "not-the-credential") == 401
        other = mint_credential("some-other-secret-0123456789-abcdefghijklmn", "ada", 600)
        assert await allocation_error(port, other.username, other.credential) == 401
        assert await allocation_error(port, *valid_credential(now=time.time() - 3600)) == 401  # expired
        async with turn_client(port, *valid_credential()) as client:
            host, relay_port = await asyncio.wait_for(client.connect(), ANSWER_TIMEOUT)
            assert host == "127.0.0.1" and RELAY[0] <= relay_port <= RELAY[1]


async def relay_to_own_socket(supervisor: TurnSupervisor) -> tuple[int | None, list[bytes]]:
    """Through a valid allocation, send to a UDP socket of the test on 127.0.0.1: the STUN error
    of the ChannelBind (None if accepted), and what reached the socket."""
    loop = asyncio.get_running_loop()
    inbox_transport, inbox = await loop.create_datagram_endpoint(Inbox, local_addr=("127.0.0.1", 0))
    target = inbox_transport.get_extra_info("sockname")[:2]
    try:
        async with turn_client(supervisor.config.settings.port, *valid_credential()) as client:
            await asyncio.wait_for(client.connect(), ANSWER_TIMEOUT)
            error = None
            try:
                await asyncio.wait_for(client.send_data(b"through the relay", target), ANSWER_TIMEOUT)
            except stun.TransactionFailed as failed:
                error = int(failed.response.error_code)
            got: list[bytes] = []
            with contextlib.suppress(TimeoutError):
                got.append((await asyncio.wait_for(inbox.received.get(), 1.0))[0])
            return error, got
    finally:
        inbox_transport.close()


async def test_a_valid_credential_cannot_relay_to_what_is_not_the_sfu() -> None:
    # The SFU's media address stands elsewhere (TEST-NET-1, never addressed): the test's own
    # socket on 127.0.0.1 is "not the SFU", and loopback is not allowed either.
    async with coturn(["192.0.2.10"]) as supervisor:
        error, got = await relay_to_own_socket(supervisor)
        assert error == 403 and got == []
        async with turn_client(supervisor.config.settings.port, *valid_credential()) as client:
            await asyncio.wait_for(client.connect(), ANSWER_TIMEOUT)
            for number, peer in enumerate(DENIED_PEERS):
                # a ChannelBind sends nothing to the peer itself, refused or not
                with pytest.raises(stun.TransactionFailed) as refused:
                    await asyncio.wait_for(client.channel_bind(0x4000 + number, peer), ANSWER_TIMEOUT)
                assert refused.value.response.error_code == 403, peer
    # The same relay to the SFU's own address goes through: the check above can see a leak.
    async with coturn(["127.0.0.1"]) as supervisor:
        error, got = await relay_to_own_socket(supervisor)
        assert error is None and got == [b"through the relay"]


async def test_allocations_per_user_are_bounded() -> None:
    """user-quota: a third relay of the same user is refused (486), another user's is not."""
    async with coturn(["127.0.0.1"], user_quota=2) as supervisor:
        port = supervisor.config.settings.port
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(2):
                client = await stack.enter_async_context(turn_client(port, *valid_credential()))
                await asyncio.wait_for(client.connect(), ANSWER_TIMEOUT)
            assert await allocation_error(port, *valid_credential()) == 486
            assert await allocation_error(port, *valid_credential("bob")) is None


def tcp_client(server: tuple[str, int]) -> Callable[[], TurnClientTcpProtocol]:
    username, password = valid_credential()
    return lambda: TurnClientTcpProtocol(
        server, username=username, password=password, lifetime=600, channel_refresh_time=300
    )


async def test_allocation_over_tcp_for_networks_that_drop_udp() -> None:
    """turn:...?transport=tcp: the client reaches coturn over TCP; the relay is UDP."""
    async with coturn(["127.0.0.1"]) as supervisor:
        server = ("127.0.0.1", supervisor.config.settings.port)
        username, password = valid_credential()
        transport, client = await asyncio.get_running_loop().create_connection(
            lambda: TurnClientTcpProtocol(
                server, username=username, password=password, lifetime=600, channel_refresh_time=300
            ),
            *server,
        )
        try:
            host, relay_port = await asyncio.wait_for(client.connect(), ANSWER_TIMEOUT)
            assert host == "127.0.0.1" and RELAY[0] <= relay_port <= RELAY[1]
            await asyncio.wait_for(client.delete(), ANSWER_TIMEOUT)
        finally:
            transport.close()


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as the TLS set-up of sfuctl would give coturn."""
    from datetime import UTC, datetime, timedelta
    from ipaddress import IPv4Address

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_file.chmod(0o600)
    return cert_file, key_file


async def test_allocation_over_tls_with_a_certificate(tmp_path: Path) -> None:
    """turns: when sfuctl has a certificate: coturn serves TLS on tls_port with it."""
    cert, key = self_signed(tmp_path)
    settings = turn_settings(tls_port=free_port())
    supervisor = TurnSupervisor(TurnServerConfig(settings, ["127.0.0.1"], 12, 100, str(cert), str(key)))
    await supervisor.start()
    try:
        assert supervisor.status()["tlsPort"] == settings.tls_port
        context = ssl.create_default_context(cafile=str(cert))
        server = ("127.0.0.1", settings.tls_port)
        transport, client = await asyncio.get_running_loop().create_connection(
            tcp_client(server), *server, ssl=context
        )
        try:
            host, relay_port = await asyncio.wait_for(client.connect(), ANSWER_TIMEOUT)
            assert host == "127.0.0.1" and RELAY[0] <= relay_port <= RELAY[1]
            assert transport.get_extra_info("peercert") is not None  # verified against our certificate
            await asyncio.wait_for(client.delete(), ANSWER_TIMEOUT)
        finally:
            transport.close()
    finally:
        await supervisor.close()
