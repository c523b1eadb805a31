"""Who is talking: the room's ActiveSpeakerObserver drives 'active-speaker' and the admin API."""

from __future__ import annotations

import aiohttp

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
