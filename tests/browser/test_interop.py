"""Chromium <-> pymediasoup (aiortc) through the signaling protocol, both directions."""

from __future__ import annotations

import asyncio

import pytest

from tests.browser.conftest import OpenCall
from tests.conftest import RunningServer
from tests.media_client import MovingVideoTrack, ToneAudioTrack, loopback_ice, receive_frames
from tests.signaling_client import Peer

pytestmark = [pytest.mark.worker, pytest.mark.timeout(120)]


async def test_python_client_consumes_and_decodes_what_chromium_publishes(
    server: RunningServer, open_call: OpenCall
) -> None:
    page = await open_call(server.url + "/?token=" + server.token("mix", "chrome", "Chrome"), "chrome")
    await page.user_id()
    await page.wait("sfuctlDebug.producers().length === 2")

    with loopback_ice():
        peer = Peer()
        try:
            joined = await peer.join(server.ws_url, server.token("mix", "py", "Python"))
            producers = {p["kind"]: p for p in joined["producers"]}
            assert set(producers) == {"audio", "video"}
            assert producers["video"]["userName"] == "Chrome"
            video_info, video = await peer.consume(producers["video"]["producerId"])
            _, audio = await peer.consume(producers["audio"]["producerId"])
            assert video_info["type"] == "simulcast"
            assert video_info["rtpParameters"]["codecs"][0]["mimeType"].lower() == "video/vp8"
            frames = await receive_frames(video.track, 15, timeout=30)
            assert frames[-1].width > 0 and frames[-1].height > 0
            samples = await receive_frames(audio.track, 25, timeout=30)
            assert all(s.sample_rate == 48000 for s in samples)
            # the page shows the Python peer (it publishes nothing: initials, no video)
            await page.wait("sfuctlDebug.tiles().some((t) => t.userId === 'py' && t.name === 'Python')")
        finally:
            await asyncio.wait_for(peer.close(), 10)


async def test_chromium_decodes_what_a_python_client_publishes(
    server: RunningServer, open_call: OpenCall
) -> None:
    with loopback_ice():
        video, audio = MovingVideoTrack(), ToneAudioTrack()
        peer = Peer([video, audio])
        try:
            await peer.join(server.ws_url, server.token("mix", "py", "Python"))
            video_id = await peer.produce(video)
            audio_id = await peer.produce(audio)

            page = await open_call(
                server.url + "/?token=" + server.token("mix", "chrome", "Chrome"), "chrome"
            )
            await page.user_id()
            await page.wait_media_from("py", frames=20, packets=50, timeout=40)
            stats = {s["kind"]: s for s in await page.inbound()}
            assert stats["video"]["producerId"] == video_id and stats["audio"]["producerId"] == audio_id
            assert (stats["video"]["frameWidth"], stats["video"]["frameHeight"]) == (320, 240)
            assert stats["audio"]["codec"] == "opus"
            assert stats["audio"]["totalAudioEnergy"] > 0  # the tone, not silence
        finally:
            await asyncio.wait_for(peer.close(), 10)
