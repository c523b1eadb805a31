"""A lightweight signaling peer: our WebSocket protocol without any media stack.

It produces with valid client-side RTP parameters (the worker accepts them; no media needs to
flow), so thousands of peers fit in one process. Request latencies are recorded per type.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import defaultdict
from typing import Any

import aiohttp
import orjson

REQUEST_TIMEOUT = 30.0


class RequestError(Exception):
    def __init__(self, request_type: str, code: str, message: str) -> None:
        super().__init__(f"{request_type}: {code}: {message}")
        self.type = request_type
        self.code = code


def audio_rtp_parameters(ssrc: int | None = None, cname: str = "bench") -> dict[str, Any]:
    """What a browser sends for one Opus track, reduced to the required fields."""
    return {
        "codecs": [
            {
                "mimeType": "audio/opus",
                "payloadType": 111,
                "clockRate": 48000,
                "channels": 2,
                "parameters": {"minptime": 10, "useinbandfec": 1},
                "rtcpFeedback": [],
            }
        ],
        "headerExtensions": [],
        "encodings": [{"ssrc": ssrc if ssrc is not None else random.randint(1, 2**31)}],
        "rtcp": {"cname": cname, "reducedSize": True},
    }


class SignalingPeer:
    """One WebSocket connection speaking the request/event protocol."""

    def __init__(
        self, session: aiohttp.ClientSession, latencies: dict[str, list[float]] | None = None
    ) -> None:
        self.http = session
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.latencies: dict[str, list[float]] = latencies if latencies is not None else defaultdict(list)
        self.events: list[dict[str, Any]] = []
        self.joined: dict[str, Any] = {}
        self.close_code: int | None = None
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._waiters: list[tuple[str, asyncio.Future[dict[str, Any]]]] = []
        self._reader: asyncio.Task[None] | None = None

    async def connect(self, ws_url: str, token: str) -> None:
        self.ws = await self.http.ws_connect(f"{ws_url}?token={token}", heartbeat=None, autoping=True)
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = orjson.loads(message.data)
            if frame.get("type") == "response":
                future = self._pending.pop(frame["requestId"], None)
                if future is not None and not future.done():
                    future.set_result(frame)
                continue
            self.events.append(frame)
            for event_type, waiter in list(self._waiters):
                if event_type == frame.get("type") and not waiter.done():
                    waiter.set_result(frame.get("data", {}))
        self.close_code = self.ws.close_code
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError(f"websocket closed ({self.close_code})"))

    async def request(self, request_type: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        assert self.ws is not None
        request_id = str(next(self._ids))
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        started = time.perf_counter()
        frame_out = {"type": request_type, "requestId": request_id, "data": data or {}}
        await self.ws.send_str(orjson.dumps(frame_out).decode())
        frame = await asyncio.wait_for(future, REQUEST_TIMEOUT)
        self.latencies[request_type].append(time.perf_counter() - started)
        if not frame["ok"]:
            raise RequestError(request_type, frame["error"]["code"], frame["error"]["message"])
        result: dict[str, Any] = frame["data"]
        return result

    async def wait_event(self, event_type: str, timeout: float = 10.0) -> dict[str, Any]:
        for frame in self.events:
            if frame.get("type") == event_type:
                data: dict[str, Any] = frame.get("data", {})
                return data
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((event_type, waiter))
        return await asyncio.wait_for(waiter, timeout)

    # -- the usual steps -------------------------------------------------------------------------

    async def join(self) -> dict[str, Any]:
        self.joined = await self.request("join-room")
        return self.joined

    @property
    def rtp_capabilities(self) -> dict[str, Any]:
        """The router's own capabilities: a client that supports all of them can consume anything."""
        caps: dict[str, Any] = self.joined["rtpCapabilities"]
        return caps

    async def create_transport(self, direction: str) -> dict[str, Any]:
        return await self.request("create-transport", {"direction": direction})

    async def produce_audio(self, transport_id: str) -> str:
        result = await self.request(
            "produce", {"transportId": transport_id, "kind": "audio", "rtpParameters": audio_rtp_parameters()}
        )
        return str(result["id"])

    async def consume(self, transport_id: str, producer_id: str) -> dict[str, Any]:
        return await self.request(
            "consume",
            {
                "transportId": transport_id,
                "producerId": producer_id,
                "rtpCapabilities": self.rtp_capabilities,
            },
        )

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, 5)
            except (TimeoutError, ConnectionError):
                self._reader.cancel()
