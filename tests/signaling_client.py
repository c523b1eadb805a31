"""A client of our WebSocket signaling protocol, and a pymediasoup peer that uses it.

It is what an application written against the documented contract would do: nothing in here
reaches into the server.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import aiohttp
from aiortc.mediastreams import MediaStreamTrack
from pymediasoup import AiortcHandler, Device
from pymediasoup.rtp_parameters import RtpCapabilities


class RequestFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class SignalingClient:
    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.events: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._event_waiters: list[
            tuple[Callable[[dict[str, Any]], bool], asyncio.Future[dict[str, Any]]]
        ] = []
        self._reader: asyncio.Task[None] | None = None
        self.close_code: int | None = None

    async def connect(self, ws_url: str, token: str) -> None:
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(f"{ws_url}?token={token}", heartbeat=None)
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = message.json()
            if frame.get("type") == "response":
                future = self._pending.pop(frame["requestId"], None)
                if future is not None and not future.done():
                    future.set_result(frame)
                continue
            self.events.append(frame)
            for predicate, waiter in list(self._event_waiters):
                if not waiter.done() and predicate(frame):
                    waiter.set_result(frame)
        self.close_code = self.ws.close_code
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError(f"websocket closed ({self.close_code})"))

    async def send_raw(self, text: str) -> None:
        assert self.ws is not None
        await self.ws.send_str(text)

    async def request_frame(self, request_type: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a request and return the whole response frame."""
        assert self.ws is not None
        request_id = str(next(self._ids))
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        await self.ws.send_json({"type": request_type, "requestId": request_id, "data": data or {}})
        return await asyncio.wait_for(future, 15)

    async def request(self, request_type: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        frame = await self.request_frame(request_type, data)
        if not frame["ok"]:
            raise RequestFailed(frame["error"]["code"], frame["error"]["message"])
        result: dict[str, Any] = frame["data"]
        return result

    async def wait_event(
        self, event_type: str, where: Callable[[dict[str, Any]], bool] = lambda d: True, timeout: float = 10
    ) -> dict[str, Any]:
        """The first event of this type (already received or coming) whose data matches."""

        def match(frame: dict[str, Any]) -> bool:
            return bool(frame.get("type") == event_type and where(frame.get("data", {})))

        for frame in self.events:
            if match(frame):
                return frame["data"]  # type: ignore[no-any-return]
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._event_waiters.append((match, waiter))
        frame = await asyncio.wait_for(waiter, timeout)
        return frame["data"]  # type: ignore[no-any-return]

    async def wait_closed(self, timeout: float = 10) -> int | None:
        if self._reader is not None:
            await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self.close_code

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 5)
        if self.session is not None:
            await self.session.close()


class Peer:
    """A pymediasoup device that joins through the signaling protocol."""

    def __init__(self, tracks: list[MediaStreamTrack] | None = None) -> None:
        self.signaling = SignalingClient()
        self.device = Device(handlerFactory=AiortcHandler.createFactory(tracks=tracks or []))
        self.joined: dict[str, Any] = {}
        self.send_transport: Any = None
        self.recv_transport: Any = None
        self.transport_infos: dict[str, dict[str, Any]] = {}

    async def join(self, ws_url: str, token: str) -> dict[str, Any]:
        await self.signaling.connect(ws_url, token)
        self.joined = await self.signaling.request("join-room")
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
            iceServers=[],
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

    async def produce(self, track: MediaStreamTrack) -> str:
        if self.send_transport is None:
            self.send_transport = await self._transport("send")
        producer = await self.send_transport.produce(track=track, stopTracks=False)
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
