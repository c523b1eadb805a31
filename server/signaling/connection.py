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
from sfuctl.server.rate import TokenBucket
from sfuctl.server.signaling import protocol as p
from sfuctl.server.signaling.json_shape import DepthGuard
from sfuctl.server.signaling.outbox import Outbox
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
from sfuctl.server.signaling.ws_frames import text_frame, text_frames
from sfuctl.server.turn.credentials import NO_ICE_SERVERS, IceServers
from sfuctl.server.webhooks.events import EventSink, NoEvents

log = logging.getLogger("sfuctl.signaling")

CLOSE_REPLACED = 4001
CLOSE_KICKED = 4003
"""An admin removed the peer (after ``room-closed {reason: "kicked"}``)."""
CLOSE_TIMEOUT = 2.0
"""How long a dropped client has to take its close frame before its socket is aborted."""
FRAME_HEADER_MAX = 14
"""Largest WebSocket frame header (RFC 6455: 2 + 8 length bytes + 4 mask bytes)."""
BATCH_BYTES = 64 * 1024
"""At most this many bytes of queued frames are joined into one write."""


@dataclass
class SignalingService:
    """Everything a connection needs; one per server."""

    secret: str
    registry: RoomRegistry
    limits: Limits
    transport_options: dict[str, Any]
    draining: bool = False
    connections: dict[tuple[str, str], Connection] = field(default_factory=dict)
    """The one live connection of each (room, user)."""
    on_request: Callable[[str, float, p.ErrorCode | None], None] | None = None
    """Called after each request with (type, seconds, error code or None): the metrics hook."""
    ice_servers: IceServers = NO_ICE_SERVERS
    """STUN/TURN servers each peer is told in its join-room answer (with its own credential)."""
    events: EventSink = field(default_factory=NoEvents)
    """Where join/leave/publish events go (the webhooks); never blocks."""
    requests_received: int = 0
    """Frames received from clients so far: how busy signaling is (see gc_pacing)."""

    async def drop_all(self, code: int, message: bytes) -> None:
        """Drop every connection; return once their handlers have ended (bounded)."""
        connections = list(self.connections.values())
        for connection in connections:
            connection.drop(code, message)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(c.finished.wait() for c in connections)), CLOSE_TIMEOUT + 1.0
            )


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
    try:
        await ws.prepare(request)
        await Connection(ws, claims, service, request.transport).run()
    except ConnectionError as error:  # the client went away mid-write: nothing to report but that
        why = error or type(error).__name__
        log.info("connection lost: %s", why, extra={"room": claims.room, "user": claims.sub})
    return ws


class Connection:
    """One client's WebSocket: a reader that handles requests in order, a writer that drains the
    outbox, and :meth:`drop`, the one way a peer is removed whatever its socket does."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        claims: Claims,
        service: SignalingService,
        transport: asyncio.Transport | None = None,
    ) -> None:
        self.ws = ws
        self.claims = claims
        self.service = service
        self.transport = transport
        self.key = (claims.room, claims.sub)
        self.fields = {"room": claims.room, "user": claims.sub}
        """Structured log fields of every line about this connection."""
        limits = service.limits
        self.write_timeout = limits.heartbeat_seconds
        self.outbox = Outbox(limits.outbound_queue, limits.max_outbox_bytes)
        self.peer = Peer(
            claims.sub, claims.name, claims.grants, self.outbox,
            on_overflow=lambda: self.drop(WSCloseCode.POLICY_VIOLATION, b"too slow"),
        )  # fmt: skip
        self.session = Session(
            self.peer,
            claims.room,
            service.registry,
            limits,
            service.transport_options,
            service.ice_servers,
            service.events,
        )
        self.bucket = TokenBucket(limits.requests_per_second, limits.request_burst)
        self.depth = DepthGuard(limits.max_json_depth)
        self.dropped = False
        self.finished = asyncio.Event()
        self._closing: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None

    async def run(self) -> None:
        # Looked up and replaced with no await in between: one live connection per (room, user).
        previous = self.service.connections.get(self.key)
        self.service.connections[self.key] = self
        if previous is not None:
            log.info("replacing connection", extra=self.fields)
            previous.drop(CLOSE_REPLACED, b"replaced")
        writer = self._writer = asyncio.get_running_loop().create_task(self._write())
        try:
            await self._read()
        finally:
            self._leave()
            if self.ws.close_code in (None, WSCloseCode.ABNORMAL_CLOSURE) and self._closing is None:
                self._abort()  # a heartbeat timeout: aiohttp's close would wait on unread bytes
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            if self._closing is not None:
                await asyncio.shield(self._closing)
            self.finished.set()

    def drop(self, code: int, message: bytes, flush: bool = False) -> None:
        """Remove the peer now (objects closed, others told), then close the socket within
        CLOSE_TIMEOUT, aborting it if the client does not take the close frame.

        With ``flush``, what is already queued for the client (a farewell event) is written
        first, within the same CLOSE_TIMEOUT."""
        if self.dropped:
            return
        self._leave(flush)
        self._closing = asyncio.get_running_loop().create_task(self._close_socket(code, message, flush))

    def kick(self) -> None:
        """An admin removes the peer: it is told ``room-closed {reason: "kicked"}``, the others
        get ``peer-left`` (and ``producer-closed`` for what it published), then it is disconnected."""
        self.peer.event("room-closed", {"reason": "kicked"})
        log.info("kicked", extra=self.fields)
        self.drop(CLOSE_KICKED, b"kicked", flush=True)

    def _leave(self, flush: bool = False) -> None:
        if self.dropped:
            return
        self.dropped = True
        self.peer.closed = True
        if self.service.connections.get(self.key) is self:
            del self.service.connections[self.key]
        self.session.leave()
        if flush:
            self.outbox.seal()
        else:
            self.outbox.close()

    async def _close_socket(self, code: int, message: bytes, flush: bool = False) -> None:
        if flush and self._writer is not None:
            # Bounded: a client that does not read loses its farewell, not the server's time.
            await asyncio.wait({self._writer}, timeout=CLOSE_TIMEOUT)
            self.outbox.close()
        try:
            await asyncio.wait_for(self.ws.close(code=code, message=message), CLOSE_TIMEOUT)
        except (TimeoutError, ConnectionError):
            self._abort()

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()  # what is still buffered for a client that does not read is discarded

    def _takes_at_once(self, size: int) -> bool:
        """Whether writing ``size`` bytes cannot wait: writing is not paused (the buffer is at most its
        low-water mark) and these bytes do not pause it (stay within the high-water mark). Such a
        send needs no timer; one per frame was a sizeable part of the cost of every event."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return False
        low, high = transport.get_write_buffer_limits()
        buffered = transport.get_write_buffer_size()
        return buffered <= low and buffered + size <= high

    async def _write(self) -> None:
        while (frame := await self.outbox.get()) is not None:
            try:
                # Built here and written at once when the socket takes it: frames queued together
                # (the events of one leave) in one write, a lone frame without aiohttp's per-frame
                # work; a client that asked for compression gets aiohttp's (it compresses each frame).
                if self.ws.compress:
                    await self._send(frame)
                    continue
                more = self.outbox.take_queued(BATCH_BYTES - len(frame))
                batch = text_frames([frame, *more]) if more else text_frame(frame)
                if self.transport is not None and not self.ws.closed and self._takes_at_once(len(batch)):
                    self.transport.write(batch)
                    continue
                for each in (frame, *more):
                    await self._send(each)
            except TimeoutError:
                log.warning("peer's socket took nothing for %ss; dropping it", self.write_timeout,
                            extra=self.fields)  # fmt: skip
                self.drop(WSCloseCode.POLICY_VIOLATION, b"not reading")
                return
            except ConnectionError:
                return  # the reader sees the connection end

    async def _send(self, frame: bytes) -> None:
        """One frame through aiohttp, bounded by the write timeout unless the socket takes it now."""
        if self._takes_at_once(len(frame) + FRAME_HEADER_MAX):
            await self.ws.send_frame(frame, WSMsgType.TEXT)
        else:
            await asyncio.wait_for(self.ws.send_frame(frame, WSMsgType.TEXT), self.write_timeout)

    async def _read(self) -> None:
        async for message in self.ws:
            if self.dropped:
                return
            if message.type == WSMsgType.TEXT:
                await self.outbox.wait_below_half()
                await self._on_text(message.data)
            elif message.type == WSMsgType.BINARY:
                self.peer.send(
                    error_event(p.ErrorCode.BAD_REQUEST, "binary frames are not part of the protocol")
                )
            elif message.type == WSMsgType.ERROR:
                log.debug("websocket error: %s", self.ws.exception(), extra=self.fields)

    async def _on_text(self, text: str) -> None:
        self.service.requests_received += 1
        try:
            raw = orjson.loads(text)
            frame = p.RequestFrame.model_validate(raw)
        except orjson.JSONDecodeError:
            self.peer.send(error_event(p.ErrorCode.BAD_REQUEST, "frame is not JSON"))
            return
        except ValidationError as error:
            # Whenever the requestId is usable, the client's pending request gets its answer.
            request_id = raw.get("requestId") if type(raw) is dict else None
            if type(request_id) is str and 0 < len(request_id) <= p.MAX_REQUEST_ID:
                self.peer.send(response_error(request_id, p.ErrorCode.BAD_REQUEST, validation_message(error)))
            else:
                self.peer.send(error_event(p.ErrorCode.BAD_REQUEST, validation_message(error)))
            return
        started = time.perf_counter()
        code: p.ErrorCode | None = None
        data = frame.data
        if not self.bucket.take():
            code = p.ErrorCode.LIMIT_EXCEEDED
            self.peer.send(response_error(frame.requestId, code, "too many requests; slow down"))
        elif type(data) is not dict:
            code = p.ErrorCode.BAD_REQUEST
            self.peer.send(response_error(frame.requestId, code, "data must be an object"))
        elif self.depth.too_deep(data):
            code = p.ErrorCode.BAD_REQUEST
            depth = self.service.limits.max_json_depth
            self.peer.send(response_error(frame.requestId, code, f"data nests deeper than {depth} levels"))
        elif self.service.draining and frame.type == "join-room":
            code = p.ErrorCode.NOT_JOINED
            self.peer.send(response_error(frame.requestId, code, "the server is shutting down"))
        else:
            try:
                result = await self.session.handle(frame.type, data)
            except SignalingError as error:
                code = error.code
                self.peer.send(response_error(frame.requestId, error.code, error.message))
            except Exception:
                code = p.ErrorCode.INTERNAL
                log.exception("request failed", extra={**self.fields, "type": frame.type})
                self.peer.send(response_error(frame.requestId, code, "internal error"))
            else:
                self.peer.send(response_ok(frame.requestId, result))
        if self.service.on_request is not None:
            self.service.on_request(frame.type, time.perf_counter() - started, code)
