"""Who is talking: the room's ActiveSpeakerObserver drives 'active-speaker' and the admin API."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

import aiohttp
import pytest

from sfuctl.client import SignalingClient
from tests.conftest import RunningServer
from tests.media_client import ToneAudioTrack, loopback_ice
from tests.signaling_client import Peer


async def test_the_speaker_is_announced_and_shown_to_admins(server: RunningServer) -> None:
    with loopback_ice():
        tone = ToneAudioTrack()
        speaker, listener = Peer([tone]), Peer()
        await speaker.join(server.ws_url, server.token("talk", "speaker"))
        await listener.join(server.ws_url, server.token("talk", "listener"))
        producer_id = await speaker.produce(tone)
        event = await listener.signaling.wait_event("active-speaker", timeout=15)
        assert event == {"userId": "speaker", "producerId": producer_id}
        headers = {"Authorization": f"Bearer {server.token('talk', 'ops', admin=True)}"}
        async with aiohttp.ClientSession() as http:
            resp = await http.get(f"{server.url}/rooms/talk", headers=headers)
            assert (await resp.json())["activeSpeaker"] == "speaker"
        await speaker.close()
        await listener.close()


async def test_produce_answers_before_the_observer_and_a_quick_close_breaks_nothing(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The observer's add_producer runs after produce is answered: it still follows the producer,
    and a producer closed straight after its produce (before that request) leaves no error."""
    async with aiohttp.ClientSession() as http:
        client = SignalingClient(http, defaultdict(list))
        await client.connect(server.ws_url, server.token("talk", "quick"))
        await client.join()
        room = server.sfu.registry.get("talk")
        assert room is not None and room.speaker_observer is not None
        added: asyncio.Queue[str] = asyncio.Queue()
        room.speaker_observer.observer.on("addproducer", lambda producer: added.put_nowait(producer.id))
        send = await client.create_transport("send")
        kept = await client.produce_audio(send["id"])
        assert await asyncio.wait_for(added.get(), 10) == kept
        with caplog.at_level(logging.DEBUG, logger="sfuctl.signaling"):
            for _ in range(5):
                closed = await client.produce_audio(send["id"])
                await client.request("close-producer", {"producerId": closed})
            assert await client.produce_audio(send["id"])  # the peer goes on
            await asyncio.sleep(0.5)
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
        assert not room.closed and "quick" in room.peers
        await client.close()
