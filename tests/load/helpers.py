"""What the load tests share: a group of lightweight peers doing a whole session, and waits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp

from sfuctl.client import SignalingClient
from tests.conftest import RunningServer


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15.0, what: str = "") -> None:
    """Poll ``check`` until it holds; fail the test with ``what`` otherwise (no timing asserted)."""

    async def loop() -> None:
        while not await check():
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(loop(), timeout)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


async def session_group(
    http: aiohttp.ClientSession, server: RunningServer, room: str, size: int, polite: bool = True
) -> None:
    """``size`` peers join ``room``, each produces audio and consumes every other peer, then all go.

    ``polite`` peers send leave-room before closing; the others just close the WebSocket.
    """
    peers = [SignalingClient(http) for _ in range(size)]
    try:
        for i, peer in enumerate(peers):
            await peer.connect(server.ws_url, server.token(room, f"u{i}"))
        await asyncio.gather(*(peer.join() for peer in peers))
        sends = await asyncio.gather(*(peer.create_transport("send") for peer in peers))
        producers = await asyncio.gather(
            *(p.produce_audio(t["id"]) for p, t in zip(peers, sends, strict=True))
        )
        recvs = await asyncio.gather(*(peer.create_transport("recv") for peer in peers))

        async def consume_others(i: int) -> None:
            for j, producer_id in enumerate(producers):
                if j != i:
                    consumer = await peers[i].consume(recvs[i]["id"], producer_id)
                    await peers[i].request("resume-consumer", {"consumerId": consumer["id"]})

        await asyncio.gather(*(consume_others(i) for i in range(size)))
        if polite:
            await asyncio.gather(*(peer.request("leave-room") for peer in peers))
    finally:
        await asyncio.gather(*(peer.close() for peer in peers))
