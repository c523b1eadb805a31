"""The WebSocket endpoint: JWT check before the upgrade, then one request loop per connection.

Requests of one connection are handled in order (mediasoup-client relies on it: connect before
produce); events to a peer go through its bounded outbox, written by one writer task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web
from pydantic import ValidationError

from sfuctl.server.auth import AuthError, Claims, verify_token
from sfuctl.server.limits import Limits
from sfuctl.server.signaling import protocol as p
from sfuctl.server.signaling.peer import Peer
from sfuctl.server.signaling.registry import RoomRegistry
from sfuctl.server.signaling.session import (
    Session,
    SignalingError,
    error_event,
    response_error,
    response_ok,
    validation_message,
)

log = logging.getLogger("sfuctl.signaling")

CLOSE_REPLACED = 4001


class TokenBucket:
    """Requests allowed per connection: ``rate`` per second on average, ``burst`` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.capacity = float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass
class SignalingService:
    """Everything a connection needs; one per server."""

    secret: str
    registry: RoomRegistry
    limits: Limits
    transport_options: dict[str, Any]
    draining: bool = False
    connections: dict[tuple[str, str], web.WebSocketResponse] = field(default_factory=dict)
    on_request: Callable[[str, float, p.ErrorCode | None], None] | None = None
    """Called after each request with (type, seconds, error code or None): the metrics hook."""


def unauthorized(message: str, status: int = 401) -> web.Response:
    code = "unauthorized" if status == 401 else "unavailable"
    return web.Response(
        status=status,
        body=orjson.dumps({"error": {"code": code, "message": message}}),
        content_type="application/json",
    )


async def websocket_handler(request: web.Request, service: SignalingService) -> web.StreamResponse:
    if service.draining:
        return unauthorized("server is shutting down", status=503)
    try:
        claims = verify_token(request.query.get("token"), service.secret)
    except AuthError as error:
        return unauthorized(str(error))
    ws = web.WebSocketResponse(
        max_msg_size=service.limits.max_message_bytes,
        heartbeat=service.limits.heartbeat_seconds,
        autoping=True,
    )
    await ws.prepare(request)
    await Connection(ws, claims, service).run()
    return ws


class Connection:
    def __init__(self, ws: web.WebSocketResponse, claims: Claims, service: SignalingService) -> None:
        self.ws = ws
        self.claims = claims
        self.service = service
        self.key = (claims.room, claims.sub)
        self.outbox: asyncio.Queue[bytes | None] = asyncio.Queue(service.limits.outbound_queue)
        self.peer = Peer(claims.sub, claims.name, claims.grants, self.outbox, on_overflow=self._overflow)
        self.session = Session(
            self.peer, claims.room, service.registry, service.limits, service.transport_options
        )
        self.bucket = TokenBucket(service.limits.requests_per_second, service.limits.request_burst)

    async def run(self) -> None:
        await self._replace_previous()
        self.service.connections[self.key] = self.ws
        writer = asyncio.get_running_loop().create_task(self._write())
        try:
            await self._read()
        finally:
            self.peer.closed = True
            if self.service.connections.get(self.key) is self.ws:
                del self.service.connections[self.key]
            await self.session.leave_room()
            with contextlib.suppress(asyncio.QueueFull):
                self.outbox.put_nowait(None)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _replace_previous(self) -> None:
        previous = self.service.connections.get(self.key)
        if previous is not None and not previous.closed:
            log.info("replacing connection [room:%s user:%s]", *self.key)
            await previous.close(code=CLOSE_REPLACED, message=b"replaced")

    async def _write(self) -> None:
        while True:
            frame = await self.outbox.get()
            if frame is None or self.ws.closed:
                return
            try:
                await self.ws.send_str(frame.decode())
            except ConnectionResetError:
                return

    def _overflow(self) -> None:
        asyncio.get_running_loop().create_task(
            self.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"too slow")
        )

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type == WSMsgType.TEXT:
                await self._on_text(message.data)
            elif message.type == WSMsgType.BINARY:
                self.peer.send(
                    error_event(p.ErrorCode.BAD_REQUEST, "binary frames are not part of the protocol")
                )
            elif message.type == WSMsgType.ERROR:
                log.debug("websocket error [room:%s user:%s]: %s", *self.key, self.ws.exception())

    async def _on_text(self, text: str) -> None:
        try:
            raw = orjson.loads(text)
            frame = p.RequestFrame.model_validate(raw)
        except orjson.JSONDecodeError:
            self.peer.send(error_event(p.ErrorCode.BAD_REQUEST, "frame is not JSON"))
            return
        except ValidationError as error:
            self.peer.send(error_event(p.ErrorCode.BAD_REQUEST, validation_message(error)))
            return
        started = time.perf_counter()
        code: p.ErrorCode | None = None
        if not self.bucket.take():
            code = p.ErrorCode.LIMIT_EXCEEDED
            self.peer.send(response_error(frame.requestId, code, "too many requests; slow down"))
        elif self.service.draining and frame.type == "join-room":
            code = p.ErrorCode.NOT_JOINED
            self.peer.send(response_error(frame.requestId, code, "the server is shutting down"))
        else:
            try:
                data = await self.session.handle(frame.type, frame.data)
            except SignalingError as error:
                code = error.code
                self.peer.send(response_error(frame.requestId, error.code, error.message))
            except Exception:
                code = p.ErrorCode.INTERNAL
                log.exception("request failed [room:%s user:%s type:%s]", *self.key, frame.type)
                self.peer.send(response_error(frame.requestId, code, "internal error"))
            else:
                self.peer.send(response_ok(frame.requestId, data))
        if self.service.on_request is not None:
            self.service.on_request(frame.type, time.perf_counter() - started, code)
