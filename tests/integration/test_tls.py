"""HTTPS and WSS on the server's one port: real listener, real TLS handshakes, real workers.

The trust cases use the standard library's verification against the generated or given
certificate (what curl, browsers and ``sfuctl --cacert`` do); the reload cases look at the
certificate a fresh handshake is served, so they see exactly what a new client sees.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from sfuctl.client import SignalingClient
from sfuctl.server.tls.certificate import CERT_NAME, KEY_NAME, fingerprint, generate
from tests.conftest import RunningServer, start_server

pytestmark = pytest.mark.worker

WAIT = 15.0
"""Seconds a reload may take to show (polling runs every 0.2 s here)."""


async def served_fingerprint(port: int) -> str:
    """The SHA-256 of the certificate a new connection to 127.0.0.1:port is given (not verified)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, ssl=context), 5)
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
        await writer.wait_closed()
    return fingerprint(der)


async def served_becomes(port: int, wanted: str) -> str:
    """Poll (bounded) until the served fingerprint is ``wanted``; return the last one seen."""
    seen = ""
    deadline = asyncio.get_running_loop().time() + WAIT
    while asyncio.get_running_loop().time() < deadline:
        seen = await served_fingerprint(port)
        if seen == wanted:
            break
        await asyncio.sleep(0.1)
    return seen


def trusting(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    running = await start_server(tls=True, tls_dir=str(tmp_path / "state"))
    yield running
    await running.stop()


async def test_generated_certificate_serves_https_and_wss_with_its_ca(
    tls_server: RunningServer, tmp_path: Path
) -> None:
    cert = tmp_path / "state" / CERT_NAME
    assert (tmp_path / "state" / KEY_NAME).stat().st_mode & 0o777 == 0o600
    assert tls_server.url.startswith("https://") and tls_server.ws_url.startswith("wss://")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{tls_server.url}/health", ssl=trusting(cert)) as response:
            assert response.status == 200
            assert (await response.json())["status"] == "ok"
        async with http.get(f"{tls_server.url}/", ssl=trusting(cert)) as response:
            assert response.status == 200 and "text/html" in response.headers["Content-Type"]
    client = SignalingClient()
    try:
        await client.connect(tls_server.ws_url, tls_server.token("tls-room", "ada"), ssl=trusting(cert))
        reply = await client.request("join-room")
        assert reply["roomId"] == "tls-room" and reply["userId"] == "ada"
    finally:
        await client.close()


async def test_a_wrong_ca_is_refused(tls_server: RunningServer, tmp_path: Path) -> None:
    other = generate(tmp_path / "other.pem", tmp_path / "other-key.pem", ["127.0.0.1", "localhost"])
    wrong = trusting(Path(other.path))
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            async with http.get(f"{tls_server.url}/health", ssl=wrong):
                pass
    client = SignalingClient()
    try:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await client.connect(tls_server.ws_url, tls_server.token("tls-room", "eve"), ssl=wrong)
    finally:
        await client.close()
    # Nor is the system's default trust enough for a self-signed certificate.
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            async with http.get(f"{tls_server.url}/health"):
                pass


async def test_plain_http_on_the_tls_port_gets_no_answer(tls_server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientError):
            async with http.get(f"http://127.0.0.1:{tls_server.config.port}/health"):
                pass


async def test_the_generated_certificate_is_kept_across_restarts(tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    first = await start_server(tls=True, tls_dir=state)
    try:
        before = await served_fingerprint(first.config.port)
    finally:
        await first.stop()
    second = await start_server(tls=True, tls_dir=state)
    try:
        assert await served_fingerprint(second.config.port) == before
    finally:
        await second.stop()


async def test_a_renewed_certificate_is_served_without_a_restart(tmp_path: Path) -> None:
    cert, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    old = generate(cert, key, ["127.0.0.1"])
    running = await start_server(tls=True, tls_cert=str(cert), tls_key=str(key), tls_watch_seconds=0.2)
    try:
        port = running.config.port
        assert await served_fingerprint(port) == old.sha256
        client = SignalingClient()  # a connection open across the renewal keeps working
        await client.connect(running.ws_url, running.token("renew", "ada"), ssl=trusting(cert))
        try:
            new = generate(cert, key, ["127.0.0.1"])
            assert new.sha256 != old.sha256
            assert await served_becomes(port, new.sha256) == new.sha256
            assert (await client.request("join-room"))["userId"] == "ada"
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{running.url}/health", ssl=trusting(cert)) as response:
                    assert response.status == 200
        finally:
            await client.close()
        assert running.sfu.tls is not None and running.sfu.tls.reloads == 1
    finally:
        await running.stop()


async def test_a_broken_renewal_keeps_the_certificate_in_use(tmp_path: Path) -> None:
    cert, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    old = generate(cert, key, ["127.0.0.1"])
    running = await start_server(tls=True, tls_cert=str(cert), tls_key=str(key), tls_watch_seconds=0)
    try:
        tls = running.sfu.tls
        assert tls is not None
        generate(tmp_path / "other.pem", key, ["127.0.0.1"])  # a new key without its certificate
        assert tls.reload("test") is False
        assert await served_fingerprint(running.config.port) == old.sha256
        fixed = generate(cert, key, ["127.0.0.1"])
        assert tls.reload("test") is True
        assert await served_fingerprint(running.config.port) == fixed.sha256
    finally:
        await running.stop()
