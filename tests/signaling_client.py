"""A pymediasoup peer on top of the signaling client (sfuctl.client), as an application would
write one against the documented contract: nothing in here reaches into the server."""

from __future__ import annotations

from typing import Any, Literal

from aiortc import RTCConfiguration, RTCIceServer, RTCIceTransportPolicy
from aiortc.mediastreams import MediaStreamTrack
from pymediasoup import AiortcHandler, Device
from pymediasoup.rtp_parameters import RtpCapabilities

from sfuctl.client import RequestError, SignalingClient

__all__ = ["Peer", "RequestError", "SignalingClient"]


class Peer:
    """A pymediasoup device that joins through the signaling protocol."""

    def __init__(
        self,
        tracks: list[MediaStreamTrack] | None = None,
        ice_transport_policy: Literal["all", "relay"] = "all",
    ) -> None:
        self.ice_transport_policy = ice_transport_policy
        self.ice_servers: list[RTCIceServer] = []
        self.signaling = SignalingClient()
        self.device = Device(handlerFactory=AiortcHandler.createFactory(tracks=tracks or []))
        self.joined: dict[str, Any] = {}
        self.send_transport: Any = None
        self.recv_transport: Any = None
        self.transport_infos: dict[str, dict[str, Any]] = {}

    async def join(self, ws_url: str, token: str) -> dict[str, Any]:
        await self.signaling.connect(ws_url, token)
        self.joined = await self.signaling.request("join-room")
        self.ice_servers = [
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in self.joined["iceServers"]
        ]
        await self.device.load(RtpCapabilities(**self.joined["rtpCapabilities"]))
        return self.joined

    @property
    def rtp_capabilities(self) -> dict[str, Any]:
        caps: dict[str, Any] = self.device.rtpCapabilities.model_dump(by_alias=True, exclude_none=True)
        return caps

    async def _transport(self, direction: str) -> Any:
        info = await self.signaling.request("create-transport", {"direction": direction})
        self.transport_infos[direction] = info
        create = self.device.createSendTransport if direction == "send" else self.device.createRecvTransport
        transport = create(
            id=info["id"],
            iceParameters=info["iceParameters"],
            iceCandidates=info["iceCandidates"],
            dtlsParameters=info["dtlsParameters"],
            sctpParameters=info.get("sctpParameters"),
            iceServers=self.ice_servers,
            iceTransportPolicy=self.ice_transport_policy,
        )
        if self.ice_transport_policy == "relay":
            # pymediasoup 1.5 passes iceServers but drops iceTransportPolicy on the way to aiortc,
            # which supports it: set it on the connection before it gathers (at produce/consume).
            transport.handler.pc._RTCPeerConnection__configuration = RTCConfiguration(
                iceServers=self.ice_servers, iceTransportPolicy=RTCIceTransportPolicy.RELAY
            )

        @transport.on("connect")  # type: ignore[untyped-decorator]
        async def on_connect(dtls_parameters: Any) -> None:
            await self.signaling.request(
                "connect-transport",
                {"transportId": info["id"], "dtlsParameters": dtls_parameters.model_dump(exclude_none=True)},
            )

        if direction == "send":

            @transport.on("produce")  # type: ignore[untyped-decorator]
            async def on_produce(kind: str, rtp_parameters: Any, app_data: Any) -> str:
                result = await self.signaling.request(
                    "produce",
                    {
                        "transportId": info["id"],
                        "kind": kind,
                        "rtpParameters": rtp_parameters.model_dump(by_alias=True, exclude_none=True),
                        "appData": app_data or {},
                    },
                )
                return str(result["id"])

        return transport

    async def produce(self, track: MediaStreamTrack, mime_type: str | None = None) -> str:
        """Publish ``track``; with ``mime_type`` (``video/H264``), in that codec rather than the first."""
        if self.send_transport is None:
            self.send_transport = await self._transport("send")
        codec = None
        if mime_type is not None:
            codecs = self.device.rtpCapabilities.codecs
            codec = next(c for c in codecs if c.mimeType.lower() == mime_type.lower())
        producer = await self.send_transport.produce(track=track, stopTracks=False, codec=codec)
        return str(producer.id)

    async def consume(self, producer_id: str) -> tuple[dict[str, Any], Any]:
        """consume (paused on the server), attach the client side, then resume-consumer."""
        if self.recv_transport is None:
            self.recv_transport = await self._transport("recv")
        info = await self.signaling.request(
            "consume",
            {
                "transportId": self.recv_transport.id,
                "producerId": producer_id,
                "rtpCapabilities": self.rtp_capabilities,
            },
        )
        consumer = await self.recv_transport.consume(
            id=info["id"],
            producerId=info["producerId"],
            kind=info["kind"],
            rtpParameters=info["rtpParameters"],
        )
        await self.signaling.request("resume-consumer", {"consumerId": info["id"]})
        return info, consumer

    async def close(self) -> None:
        for transport in (self.send_transport, self.recv_transport):
            if transport is not None:
                await transport.close()
        await self.signaling.close()
