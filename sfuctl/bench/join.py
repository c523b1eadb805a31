"""Join latency: WebSocket open → join → recv transport → consume → first *decoded* frame.

A real WebRTC client on both sides (pymediasoup on aiortc): one publisher sends a synthetic VP8
video for the whole run; each trial is a fresh joiner, timed until aiortc hands back the first
decoded frame. Trials run one at a time, so this is latency, not throughput.

With ``viewers``, the room first fills with that many cheap viewers (minimal WebRTC endpoints
consuming the publisher, as in the fan-out bench), so a trial is the (viewers + 1)th viewer: on a
server that spreads rooms (``--limit consumers_per_router=N``) it may land on another worker,
behind a pipe. The room's routers are reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import aiohttp

from sfuctl.bench.common import Target, latency_summary
from sfuctl.bench.signaling import Progress
from sfuctl.client import SignalingClient

FRAME_TIMEOUT = 20.0


@contextlib.contextmanager
def loopback_ice(enabled: bool) -> Iterator[None]:
    """aioice never gathers 127.0.0.1; against a loopback server it must."""
    import aioice.ice

    original = aioice.ice.get_host_addresses
    if enabled:
        aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []
    try:
        yield
    finally:
        aioice.ice.get_host_addresses = original


def moving_video_track() -> Any:
    import numpy as np
    from aiortc import VideoStreamTrack
    from av import VideoFrame

    class MovingVideo(VideoStreamTrack):  # type: ignore[misc]
        """320x240, changing every frame so the encoder sends real data."""

        n = 0

        async def recv(self) -> VideoFrame:
            pts, time_base = await self.next_timestamp()
            self.n += 1
            image = np.zeros((240, 320, 3), dtype=np.uint8)
            image[:, :, 1] = (self.n * 4) % 256
            frame = VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = pts, time_base
            return frame

    return MovingVideo()


def rtc_ice_servers(servers: list[dict[str, Any]]) -> list[Any]:
    """join-room's ``iceServers`` (W3C RTCIceServer dicts) as aiortc objects for pymediasoup."""
    from aiortc import RTCIceServer

    return [
        RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
        for s in servers
    ]


class MediaPeer:
    """A pymediasoup device driven through ``SignalingClient``."""

    def __init__(self, http: aiohttp.ClientSession, tracks: list[Any] | None = None) -> None:
        from pymediasoup import AiortcHandler, Device

        self.signaling = SignalingClient(http)
        self.device = Device(handlerFactory=AiortcHandler.createFactory(tracks=tracks or []))
        self.transports: list[Any] = []
        self.ice_servers: list[Any] = []

    async def join(self, target: Target, room: str, user: str) -> None:
        from pymediasoup.rtp_parameters import RtpCapabilities

        await self.signaling.connect(target.ws_url, target.token(room, user))
        joined = await self.signaling.join()
        self.ice_servers = rtc_ice_servers(joined.get("iceServers", []))
        await self.device.load(RtpCapabilities(**joined["rtpCapabilities"]))

    async def transport(self, direction: str) -> Any:
        info = await self.signaling.create_transport(direction)
        create = self.device.createSendTransport if direction == "send" else self.device.createRecvTransport
        transport = create(
            id=info["id"], iceParameters=info["iceParameters"], iceCandidates=info["iceCandidates"],
            dtlsParameters=info["dtlsParameters"], sctpParameters=None, iceServers=self.ice_servers,
        )  # fmt: skip
        signaling = self.signaling

        @transport.on("connect")  # type: ignore[untyped-decorator]
        async def on_connect(dtls: Any) -> None:
            await signaling.request(
                "connect-transport",
                {"transportId": info["id"], "dtlsParameters": dtls.model_dump(exclude_none=True)},
            )

        @transport.on("produce")  # type: ignore[untyped-decorator]
        async def on_produce(kind: str, rtp_parameters: Any, app_data: Any) -> str:
            rtp = rtp_parameters.model_dump(by_alias=True, exclude_none=True)
            result = await signaling.request(
                "produce", {"transportId": info["id"], "kind": kind, "rtpParameters": rtp}
            )
            return str(result["id"])

        self.transports.append(transport)
        return transport

    async def consume_first_frame(self, producer_id: str) -> None:
        recv = await self.transport("recv")
        caps = self.device.rtpCapabilities.model_dump(by_alias=True, exclude_none=True)
        info = await self.signaling.request(
            "consume", {"transportId": recv.id, "producerId": producer_id, "rtpCapabilities": caps}
        )
        consumer = await recv.consume(
            id=info["id"],
            producerId=info["producerId"],
            kind=info["kind"],
            rtpParameters=info["rtpParameters"],
        )
        await self.signaling.request("resume-consumer", {"consumerId": info["id"]})
        await asyncio.wait_for(consumer.track.recv(), FRAME_TIMEOUT)

    async def close(self) -> None:
        for transport in self.transports:
            with contextlib.suppress(Exception):
                await transport.close()
        await self.signaling.close()


async def fill_room(
    http: aiohttp.ClientSession, target: Target, room: str, producer_id: str, viewers: int
) -> tuple[list[SignalingClient], list[Any]]:
    """``viewers`` cheap viewers of the publisher, 20 joining at a time."""
    from sfuctl.bench.fanout import open_endpoint

    gate = asyncio.Semaphore(20)
    peers: list[SignalingClient] = []
    endpoints: list[Any] = []

    async def viewer(index: int) -> None:
        async with gate:
            peer = SignalingClient(http)
            peers.append(peer)
            await peer.connect(target.ws_url, target.token(room, f"viewer-{index}"))
            await peer.join()
            endpoint = await open_endpoint(peer, "recv")
            endpoints.append(endpoint)
            consumer = await peer.consume(endpoint.info["id"], producer_id)
            await peer.request("resume-consumer", {"consumerId": consumer["id"]})

    await asyncio.gather(*(viewer(i) for i in range(viewers)))
    return peers, endpoints


async def run_join(
    target: Target, joins: int, room: str, progress: Progress, viewers: int = 0
) -> dict[str, Any]:
    from sfuctl.bench.fanout import room_routers

    host = urlparse(target.url).hostname or ""
    totals: list[float] = []
    failures: dict[str, int] = {}
    crowd: list[SignalingClient] = []
    endpoints: list[Any] = []
    routers: list[dict[str, Any]] = []
    with loopback_ice(host in ("127.0.0.1", "localhost")):
        async with aiohttp.ClientSession(connector=target.connector(limit=0)) as http:
            track = moving_video_track()
            publisher = MediaPeer(http, [track])
            await publisher.join(target, room, "publisher")
            send = await publisher.transport("send")
            producer = await send.produce(track=track, stopTracks=False)
            if viewers:
                crowd, endpoints = await fill_room(http, target, room, producer.id, viewers)
                progress("viewers", viewers, viewers)
            for n in range(joins):
                joiner = MediaPeer(http)
                started = time.perf_counter()
                try:
                    await joiner.join(target, room, f"joiner-{n}")
                    await joiner.consume_first_frame(producer.id)
                    totals.append(time.perf_counter() - started)
                except Exception as error:  # a failed trial is reported, not fatal
                    failures[type(error).__name__] = failures.get(type(error).__name__, 0) + 1
                finally:
                    await joiner.close()
                progress("joins", n + 1, joins)
            routers = await room_routers(http, target, room)
            for endpoint in endpoints:
                endpoint.close()
            await asyncio.gather(*(peer.close() for peer in crowd))
            await publisher.close()
    return {
        "mode": "join",
        "client": "pymediasoup (aiortc), VP8 320x240",
        "joins": joins,
        "viewersBefore": viewers,
        "roomRouters": routers,
        "firstFrameMs": latency_summary(totals),
        "failures": failures,
    }
