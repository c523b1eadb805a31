"""Break 9: an open /login must not let anonymous peers exhaust the server for everyone.

Server-wide caps on rooms, peers and transports, a per-address rate limit on /login, plain
limit_exceeded errors when the media ports run out, and display names that are checked.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from sfuctl.client import RequestError, SignalingClient
from sfuctl.server.auth import mint_token
from sfuctl.server.limits import Limits
from sfuctl.server.media.worker import WorkerSettings
from tests.conftest import TEST_SECRET, free_port, start_server


async def test_login_is_rate_limited_per_client_address() -> None:
    running = await start_server(limits=Limits(logins_per_minute=60, login_burst=5))
    try:
        async with aiohttp.ClientSession() as http:
            statuses = []
            for i in range(20):
                async with http.post(
                    f"{running.url}/login", json={"userName": f"n{i}", "roomId": "r"}
                ) as resp:
                    statuses.append(resp.status)
                    if resp.status == 429:
                        assert int(resp.headers["Retry-After"]) >= 1
                        assert (await resp.json())["error"]["code"] == "too_many_requests"
            assert statuses[:5] == [200] * 5 and statuses.count(429) >= 10, statuses
    finally:
        await running.stop()


async def joined(running: object, room: str, user: str) -> SignalingClient:
    client = SignalingClient()
    await client.connect(running.ws_url, running.token(room, user))  # type: ignore[attr-defined]
    await client.join()
    return client


async def test_rooms_peers_and_transports_are_capped_server_wide() -> None:
    running = await start_server(limits=Limits(max_rooms=2, max_peers=3, max_transports=2))
    clients: list[SignalingClient] = []
    try:
        clients += [await joined(running, "a", "a1"), await joined(running, "b", "b1")]
        with pytest.raises(RequestError) as refused:
            clients.append(await joined(running, "c", "c1"))  # a third room
        assert refused.value.code == "limit_exceeded" and "rooms" in refused.value.message
        clients.append(await joined(running, "a", "a2"))  # the third peer, in a room that exists
        with pytest.raises(RequestError) as refused:
            clients.append(await joined(running, "b", "b2"))
        assert refused.value.code == "limit_exceeded" and "peers" in refused.value.message
        await clients[0].create_transport("send")
        await clients[1].create_transport("recv")
        with pytest.raises(RequestError) as refused:
            await clients[2].create_transport("send")
        assert refused.value.code == "limit_exceeded" and "transports" in refused.value.message
    finally:
        await asyncio.gather(*(client.close() for client in clients))
        await running.stop()


async def test_running_out_of_media_ports_is_a_plain_limit_exceeded() -> None:
    port = free_port()
    worker = WorkerSettings(log_level="warn", rtc_min_port=port, rtc_max_port=port)
    running = await start_server(worker=worker)
    try:
        first = await joined(running, "p", "first")
        await first.create_transport("send")
        second = await joined(running, "p", "second")
        with pytest.raises(RequestError) as refused:
            await second.create_transport("send")
        assert refused.value.code == "limit_exceeded"
        assert "port" in refused.value.message and "numAttempt" not in refused.value.message
        await first.close()
        await second.close()
    finally:
        await running.stop()


@pytest.mark.parametrize("name", ["bell\x07", "new\nline", "n" * 65, " "])
async def test_display_names_in_tokens_are_length_capped_and_printable(name: str) -> None:
    running = await start_server()
    try:
        token, _ = mint_token(TEST_SECRET, "r", "u", name)
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(f"{running.ws_url}?token={token}")
            assert refused.value.status == 401
    finally:
        await running.stop()
