"""Real media through the real worker: pymediasoup publishes, another pymediasoup decodes.

This is also the regression test of the DTLS patch: every send transport makes the worker the
DTLS client, which crashed the unpatched worker at the first handshake.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sfuctl.server.media.router import Router
from sfuctl.server.media.worker import Worker
from tests.media_client import (
    MEDIA_CODECS,
    MediaClient,
    MovingVideoTrack,
    ToneAudioTrack,
    loopback_ice,
    receive_frames,
)


@pytest.fixture
async def router(worker: Worker) -> AsyncIterator[Router]:
    with loopback_ice():
        yield await worker.create_router(MEDIA_CODECS)


async def test_vp8_video_and_opus_audio_flow_and_decode(router: Router, worker: Worker) -> None:
    video, audio = MovingVideoTrack(), ToneAudioTrack()
    publisher = MediaClient(router, [video, audio])
    subscriber = MediaClient(router)
    await publisher.load()
    await subscriber.load()
    await publisher.open_send()
    await subscriber.open_recv()
    video_id = await publisher.produce(video)
    audio_id = await publisher.produce(audio)
    video_consumer, video_client = await subscriber.consume(video_id)
    audio_consumer, audio_client = await subscriber.consume(audio_id)
    assert video_consumer.rtp_parameters["codecs"][0]["mimeType"].lower() == "video/vp8"
    assert audio_consumer.rtp_parameters["codecs"][0]["mimeType"].lower() == "audio/opus"

    frames = await receive_frames(video_client.track, 10)
    assert all(f.width == 320 and f.height == 240 for f in frames)
    samples = await receive_frames(audio_client.track, 20)
    assert sum(s.samples for s in samples) >= 20 * 960

    assert publisher.server_send is not None and subscriber.server_recv is not None
    assert publisher.server_send.dtls_state == "connected"
    assert subscriber.server_recv.ice_state in ("connected", "completed")
    stats = await video_consumer.get_stats()
    outbound = [s for s in stats if s["type"] == "outbound-rtp"]
    assert outbound and outbound[0]["packetCount"] > 0
    producer = router.producers[video_id]
    producer_stats = await producer.get_stats()
    assert (
        producer_stats and producer_stats[0]["type"] == "inbound-rtp" and producer_stats[0]["byteCount"] > 0
    )

    await subscriber.close()
    await publisher.close()


async def test_h264_video_decodes(worker: Worker) -> None:
    with loopback_ice():
        router = await worker.create_router(MEDIA_CODECS)
        video = MovingVideoTrack()
        publisher = MediaClient(router, [video])
        subscriber = MediaClient(router)
        await publisher.load()
        await subscriber.load()
        await publisher.open_send()
        await subscriber.open_recv()
        # Offer only H264 to force the codec.
        h264 = next(c for c in publisher.device.rtpCapabilities.codecs if c.mimeType.lower() == "video/h264")
        producer = await publisher.send.produce(track=video, stopTracks=False, codec=h264)
        consumer, client = await subscriber.consume(producer.id)
        assert consumer.rtp_parameters["codecs"][0]["mimeType"].lower() == "video/h264"
        frames = await receive_frames(client.track, 5)
        assert frames[0].width == 320
        await subscriber.close()
        await publisher.close()


async def test_consume_with_incompatible_capabilities_is_refused(router: Router) -> None:
    video = MovingVideoTrack()
    publisher = MediaClient(router, [video])
    await publisher.load()
    await publisher.open_send()
    producer_id = await publisher.produce(video)
    audio_only: dict[str, Any] = copy.deepcopy(router.rtp_capabilities)
    audio_only["codecs"] = [c for c in audio_only["codecs"] if c["kind"] == "audio"]
    assert not router.can_consume(producer_id, audio_only)
    assert router.can_consume(producer_id, router.rtp_capabilities)
    transport = await router.create_webrtc_transport(listen_infos=[{"protocol": "udp", "ip": "127.0.0.1"}])
    with pytest.raises(Exception, match=r"(?i)codec|capabilit"):
        await transport.consume(producer_id, audio_only)
    await publisher.close()


async def test_producer_close_fires_producerclose_on_consumers(router: Router) -> None:
    video = MovingVideoTrack()
    publisher = MediaClient(router, [video])
    subscriber = MediaClient(router)
    await publisher.load()
    await subscriber.load()
    await publisher.open_send()
    await subscriber.open_recv()
    producer_id = await publisher.produce(video)
    consumer, _client = await subscriber.consume(producer_id)
    closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    consumer.on("producerclose", lambda: closed.set_result(None))
    router.producers[producer_id].close()
    await asyncio.wait_for(closed, 5)
    assert consumer.closed
    assert subscriber.server_recv is not None and consumer.id not in subscriber.server_recv.consumers
    await subscriber.close()
    await publisher.close()
