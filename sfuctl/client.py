"""A client of the sfuctl signaling protocol: one WebSocket, requests, responses and events.

What an application written against the documented contract does, and nothing more: the load
tools (``sfuctl bench``) and the tests both speak to the server through it. It needs no media
stack; ``audio_rtp_parameters`` gives valid client-side parameters for a producer.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import ssl as ssl_module
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

TlsTrust = ssl_module.SSLContext | aiohttp.Fingerprint | bool
"""How a client checks a ``https``/``wss`` server: True (system CAs), a context, or a pinned fingerprint."""

REQUEST_TIMEOUT = 30.0
CLOSE_TIMEOUT = 5.0


class RequestError(Exception):
    """The server answered a request with ``ok: false``."""

    def __init__(self, request_type: str, code: str, message: str) -> None:
        super().__init__(f"{request_type}: {code}: {message}")
        self.type = request_type
        self.code = code
        self.message = message


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


EventFilter = Callable[[dict[str, Any]], bool]


def _expire(future: asyncio.Future[dict[str, Any]], request_id: str) -> None:
    if not future.done():
        future.set_exception(TimeoutError(f"no answer in {REQUEST_TIMEOUT} s to request {request_id}"))


class SignalingClient:
    """One connection. Pass an ``aiohttp.ClientSession`` to share it (thousands of peers), or
    let the client open and close its own. ``latencies`` collects seconds per request type."""

    def __init__(
        self, http: aiohttp.ClientSession | None = None, latencies: dict[str, list[float]] | None = None
    ) -> None:
        self.http = http
        self._own_http = http is None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.latencies: dict[str, list[float]] = latencies if latencies is not None else defaultdict(list)
        self.events: list[dict[str, Any]] = []
        """Every frame that is not a response, in order."""
        self.joined: dict[str, Any] = {}
        self.close_code: int | None = None
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._waiters: list[tuple[EventFilter, asyncio.Future[dict[str, Any]]]] = []
        self._reader: asyncio.Task[None] | None = None
        self._caps_json: orjson.Fragment | None = None

    async def connect(self, ws_url: str, token: str, ssl: TlsTrust = True) -> None:
        """``ssl`` for a ``wss://`` server: an SSLContext trusting its CA, or an ``aiohttp.Fingerprint``."""
        if self.http is None:
            self.http = aiohttp.ClientSession()
        self.ws = await self.http.ws_connect(
            f"{ws_url}?token={token}", heartbeat=None, autoping=True, ssl=ssl
        )
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = orjson.loads(message.data)
            if frame.get("type") == "response":
                future = self._pending.pop(frame.get("requestId"), None)
                if future is not None and not future.done():
                    future.set_result(frame)
                continue
            self.events.append(frame)
            for match, waiter in list(self._waiters):
                if not waiter.done() and match(frame):
                    waiter.set_result(frame)
        self.close_code = self.ws.close_code
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError(f"websocket closed ({self.close_code})"))

    @property
    def pending(self) -> int:
        """Requests sent and not answered yet."""
        return len(self._pending)

    async def send_raw(self, text: str) -> None:
        assert self.ws is not None
        await self.ws.send_str(text)

    async def request_frame(self, request_type: str, data: Any = None) -> dict[str, Any]:
        """Send a request (``data`` as given: tests send malformed ones) and return the whole answer."""
        request_id = str(next(self._ids))
        body = {"type": request_type, "requestId": request_id, "data": {} if data is None else data}
        try:
            text = orjson.dumps(body).decode()
        except TypeError:  # integers beyond 64 bits, nesting past 254: the stdlib encodes them
            text = json.dumps(body)
        started = time.perf_counter()
        frame = await self.request_text(text, request_id)
        self.latencies[request_type].append(time.perf_counter() - started)
        return frame

    async def request_text(self, text: str, request_id: str) -> dict[str, Any]:
        """Send a request already encoded (any JSON text) and return the answer to ``request_id``."""
        assert self.ws is not None
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._pending[request_id] = future
        await self.ws.send_str(text)
        # A plain timer rather than wait_for (a task and callbacks per request): the load tool
        # shares the cores with the server it measures.
        timer = loop.call_later(REQUEST_TIMEOUT, _expire, future, request_id)
        try:
            return await future
        finally:
            timer.cancel()
            self._pending.pop(request_id, None)

    async def request(self, request_type: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """The answer's ``data``; RequestError when the server says no."""
        frame = await self.request_frame(request_type, data)
        if not frame["ok"]:
            raise RequestError(request_type, frame["error"]["code"], frame["error"]["message"])
        result: dict[str, Any] = frame["data"]
        return result

    async def wait_event(
        self, event_type: str, where: EventFilter = lambda data: True, timeout: float = 10.0
    ) -> dict[str, Any]:
        """The ``data`` of the first event of this type (received already or coming) that matches."""

        def match(frame: dict[str, Any]) -> bool:
            return bool(frame.get("type") == event_type and where(frame.get("data", {})))

        for frame in self.events:
            if match(frame):
                return dict(frame.get("data", {}))
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((match, waiter))
        try:
            frame = await asyncio.wait_for(waiter, timeout)
        finally:
            self._waiters.remove((match, waiter))
        return dict(frame.get("data", {}))

    async def wait_closed(self, timeout: float = 10.0) -> int | None:
        """Wait for the server to close the connection; its close code."""
        if self._reader is not None:
            await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self.close_code

    # -- the usual steps -------------------------------------------------------------------------

    async def join(self) -> dict[str, Any]:
        self.joined = await self.request("join-room")
        self._caps_json = None
        return self.joined

    @property
    def rtp_capabilities(self) -> dict[str, Any]:
        """The router's own capabilities: a client that supports all of them can consume anything."""
        caps: dict[str, Any] = self.joined["rtpCapabilities"]
        return caps

    async def create_transport(self, direction: str) -> dict[str, Any]:
        return await self.request("create-transport", {"direction": direction})

    async def produce_audio(self, transport_id: str, app_data: dict[str, Any] | None = None) -> str:
        data = {"transportId": transport_id, "kind": "audio", "rtpParameters": audio_rtp_parameters()}
        if app_data is not None:
            data["appData"] = app_data
        return str((await self.request("produce", data))["id"])

    async def consume(self, transport_id: str, producer_id: str) -> dict[str, Any]:
        if self._caps_json is None:  # the same capabilities in every consume: encoded once
            self._caps_json = orjson.Fragment(orjson.dumps(self.rtp_capabilities))
        return await self.request(
            "consume",
            {"transportId": transport_id, "producerId": producer_id, "rtpCapabilities": self._caps_json},
        )

    async def close(self) -> None:
        """Close the WebSocket (bounded), and the HTTP session if it is the client's own."""
        try:
            if self.ws is not None:
                await asyncio.wait_for(self.ws.close(), CLOSE_TIMEOUT)
            if self._reader is not None:
                try:
                    await asyncio.wait_for(self._reader, CLOSE_TIMEOUT)
                except (TimeoutError, ConnectionError):
                    self._reader.cancel()
        finally:
            if self._own_http and self.http is not None:
                await self.http.close()
