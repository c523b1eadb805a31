"""The ``chat`` request and event over real WebSockets: relayed with the sender's identity from
its token, bounded in size and rate per connection, and refused before anyone gets it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from sfuctl.server.limits import Limits
from sfuctl.server.signaling import protocol
from tests.conftest import RunningServer, start_server
from tests.signaling_client import RequestError, SignalingClient

pytestmark = [pytest.mark.worker, pytest.mark.timeout(60)]

LIMITS = Limits(max_chat_chars=100, chat_per_second=0.01, chat_burst=3)
"""No refill to speak of during a test: the burst is all a connection gets."""


@pytest.fixture
async def chat_server() -> AsyncIterator[RunningServer]:
    running = await start_server(limits=LIMITS)
    yield running
    await running.stop()


async def joined(server: RunningServer, room: str, user: str, name: str | None = None) -> SignalingClient:
    client = SignalingClient()
    await client.connect(server.ws_url, server.token(room, user, name))
    await client.join()
    return client


async def error_code(client: SignalingClient, data: dict[str, object]) -> tuple[str, str]:
    with pytest.raises(RequestError) as info:
        await client.request("chat", data)
    return info.value.code, info.value.message


async def test_a_message_reaches_the_others_with_the_senders_name_and_time(
    chat_server: RunningServer,
) -> None:
    ada = await joined(chat_server, "team", "ada", "Ada <b>L</b>")
    bob = await joined(chat_server, "team", "bob")
    other_room = await joined(chat_server, "elsewhere", "eve")
    try:
        before = int(time.time() * 1000)
        text = "<script>alert(1)</script>\nsecond line"
        answer = await ada.request("chat", {"text": text})
        assert answer["text"] == text and answer["userId"] == "ada" and answer["userName"] == "Ada <b>L</b>"
        assert before <= answer["ts"] <= int(time.time() * 1000)
        event = await bob.wait_event("chat")
        assert event == answer  # the same message, relayed verbatim (the client shows it as text)
        protocol.ChatMessage.model_validate(event)
        await asyncio.sleep(0.3)
        assert not [e for e in ada.events if e["type"] == "chat"]  # not echoed to the sender
        assert not [e for e in other_room.events if e["type"] == "chat"]  # nor to another room
    finally:
        for client in (ada, bob, other_room):
            await client.close()


async def test_size_and_rate_limits_refuse_before_anyone_gets_it(chat_server: RunningServer) -> None:
    ada = await joined(chat_server, "limits", "ada")
    bob = await joined(chat_server, "limits", "bob")
    try:
        code, message = await error_code(ada, {"text": "x" * 101})
        assert code == "bad_request" and "101 characters; at most 100" in message
        bad_texts: list[object] = ["   \n", "", 5, "bell\x07", "esc\x1b[31m", "nul\x00", "c1\x9b"]
        for bad in [{"text": text} for text in bad_texts] + [{}, {"text": "hi", "html": "<b>"}]:
            assert (await error_code(ada, bad))[0] == "bad_request", bad
        # size refusals cost nothing of the rate: the whole burst is still there
        assert (await ada.request("chat", {"text": "x" * 100}))["text"] == "x" * 100
        await ada.request("chat", {"text": "two"})
        await ada.request("chat", {"text": "three"})
        code, message = await error_code(ada, {"text": "four"})
        assert code == "limit_exceeded" and "too many chat messages" in message, message
        # one connection's limit is its own: Bob still talks
        await bob.request("chat", {"text": "bob here"})
        await ada.wait_event("chat", lambda data: data["text"] == "bob here")
        await asyncio.sleep(0.3)
        received = [e["data"]["text"] for e in bob.events if e["type"] == "chat"]
        assert received == ["x" * 100, "two", "three"]
        # the connection is fine: other requests still work
        assert (await ada.request("create-transport", {"direction": "recv"}))["id"]
    finally:
        await ada.close()
        await bob.close()


async def test_chat_needs_a_joined_peer(chat_server: RunningServer) -> None:
    client = SignalingClient()
    await client.connect(chat_server.ws_url, chat_server.token("r", "lurker"))
    try:
        assert (await error_code(client, {"text": "hello?"}))[0] == "not_joined"
    finally:
        await client.close()


def test_the_default_limits_are_the_ones_the_protocol_documents() -> None:
    limits = Limits()
    doc = " ".join((protocol.Chat.__doc__ or "").split())
    assert f"``max_chat_chars`` characters ({limits.max_chat_chars})" in doc
    assert f"``chat_per_second`` messages ({limits.chat_per_second:g}/s" in doc
    assert f"bursts of ``chat_burst``, {limits.chat_burst})" in doc
