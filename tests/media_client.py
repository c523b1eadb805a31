"""A real WebRTC client for tests: pymediasoup (mediasoup-client's Python port, on aiortc).

Wires a pymediasoup Device straight to our controller's transports (no signaling), so media
tests exercise the worker's ICE, DTLS, SRTP and RTP paths against a real peer.
"""

from __future__ import annotations

import asyncio
import fractions
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aioice.ice
import numpy as np
from aiortc import AudioStreamTrack, VideoStreamTrack
from aiortc.mediastreams import MediaStreamTrack
from av import AudioFrame, VideoFrame
from pymediasoup import AiortcHandler, Device
from pymediasoup.rtp_parameters import RtpCapabilities

from sfuctl.server.media.router import Router
from sfuctl.server.media.webrtc_transport import WebRtcTransport

LISTEN_INFOS = [{"protocol": "udp", "ip": "127.0.0.1"}]

MEDIA_CODECS: list[dict[str, Any]] = [
    {"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2},
    {"kind": "video", "mimeType": "video/VP8", "clockRate": 90000},
    {
        "kind": "video",
        "mimeType": "video/H264",
        "clockRate": 90000,
        "parameters": {"packetization-mode": 1, "profile-level-id": "42e01f", "level-asymmetry-allowed": 1},
    },
]


@contextmanager
def loopback_ice() -> Iterator[None]:
    """aioice never gathers 127.0.0.1; on a loopback-only test machine it must."""
    original = aioice.ice.get_host_addresses
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []
    try:
        yield
    finally:
        aioice.ice.get_host_addresses = original


class MovingVideoTrack(VideoStreamTrack):  # type: ignore[misc]
    """A synthetic 320x240 picture that changes every frame (so encoders send real data).

    Set ``size`` (width, height) to change the picture size from the next frame on, as a
    browser does under load."""

    def __init__(self) -> None:
        super().__init__()
        self._n = 0
        self.size = (320, 240)

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        self._n += 1
        width, height = self.size
        image = np.zeros((height, width, 3), dtype=np.uint8)
        image[:, :, 1] = (self._n * 4) % 256
        image[(self._n * 3) % height :, :, 0] = 200
        frame = VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts, frame.time_base = pts, time_base
        return frame


class ToneAudioTrack(AudioStreamTrack):  # type: ignore[misc]
    """A 440 Hz tone, 20 ms per frame."""

    def __init__(self) -> None:
        super().__init__()
        self._t = 0

    async def recv(self) -> AudioFrame:
        frame = await super().recv()  # for the pacing: one 20 ms frame (at aiortc's 8 kHz)
        samples = frame.samples * 48000 // frame.sample_rate  # the same 20 ms at 48 kHz
        t = (np.arange(samples) + self._t) / 48000
        pts = self._t
        self._t += samples
        pcm = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
        tone = AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        tone.sample_rate = 48000
        tone.pts, tone.time_base = pts, fractions.Fraction(1, 48000)
        return tone


def transport_options(transport: WebRtcTransport) -> dict[str, Any]:
    return {
        "id": transport.id,
        "iceParameters": transport.ice_parameters,
        "iceCandidates": transport.ice_candidates,
        "dtlsParameters": transport.dtls_parameters,
        "sctpParameters": transport.sctp_parameters,
        "iceServers": [],
    }


class MediaClient:
    """One pymediasoup device with a send and a receive transport on a router."""

    def __init__(self, router: Router, tracks: list[MediaStreamTrack] | None = None) -> None:
        self.router = router
        self.device = Device(handlerFactory=AiortcHandler.createFactory(tracks=tracks or []))
        self.server_send: WebRtcTransport | None = None
        self.server_recv: WebRtcTransport | None = None
        self.send: Any = None
        self.recv: Any = None

    async def load(self) -> None:
        await self.device.load(RtpCapabilities(**self.router.rtp_capabilities))

    @property
    def rtp_capabilities(self) -> dict[str, Any]:
        caps: dict[str, Any] = self.device.rtpCapabilities.model_dump(by_alias=True, exclude_none=True)
        return caps

    async def open_send(self) -> None:
        self.server_send = server = await self.router.create_webrtc_transport(listen_infos=LISTEN_INFOS)
        self.send = self.device.createSendTransport(**transport_options(server))

        @self.send.on("connect")  # type: ignore[untyped-decorator]
        async def on_connect(dtls_parameters: Any) -> None:
            await server.connect(dtls_parameters.model_dump(exclude_none=True))

        @self.send.on("produce")  # type: ignore[untyped-decorator]
        async def on_produce(kind: str, rtp_parameters: Any, app_data: Any) -> str:
            producer = await server.produce(kind, rtp_parameters.model_dump(by_alias=True, exclude_none=True))
            return producer.id

    async def open_recv(self) -> None:
        self.server_recv = server = await self.router.create_webrtc_transport(listen_infos=LISTEN_INFOS)
        self.recv = self.device.createRecvTransport(**transport_options(server))

        @self.recv.on("connect")  # type: ignore[untyped-decorator]
        async def on_connect(dtls_parameters: Any) -> None:
            await server.connect(dtls_parameters.model_dump(exclude_none=True))

    async def produce(self, track: MediaStreamTrack) -> str:
        producer = await self.send.produce(track=track, stopTracks=False)
        return str(producer.id)

    async def consume(self, producer_id: str) -> tuple[Any, Any]:
        """Consume on the server (paused), attach the client side, then resume."""
        assert self.server_recv is not None
        consumer = await self.server_recv.consume(producer_id, self.rtp_capabilities)
        client_consumer = await self.recv.consume(
            id=consumer.id,
            producerId=producer_id,
            kind=consumer.kind,
            rtpParameters=consumer.rtp_parameters,
        )
        await consumer.resume()
        return consumer, client_consumer

    async def close(self) -> None:
        for transport in (self.send, self.recv):
            if transport is not None:
                await transport.close()


async def receive_frames(track: MediaStreamTrack, count: int, timeout: float = 20.0) -> list[Any]:
    """Decoded frames from a remote track; fails the test if fewer arrive within ``timeout``."""
    frames: list[Any] = []

    async def pull() -> None:
        while len(frames) < count:
            frames.append(await track.recv())

    await asyncio.wait_for(pull(), timeout)
    return frames
