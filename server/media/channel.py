"""The worker channel: length-prefixed FlatBuffers messages over the worker's fd 3 (in) and fd 4 (out).

Bodies are plain dicts both ways (flatc's object-API field names, enums as ints), encoded and
decoded by the channel codec (native, or its pure-Python fallback; see codec.py).

Requests are correlated with responses by id; notifications are routed to the handler registered
for their handler id (an object id, or the worker pid for worker-level events); log lines go to
Python logging. When the channel ends, every pending request fails at once.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Callable
from typing import Any

from sfuctl.server.media import codec
from sfuctl.server.media.errors import (
    InvalidStateError,
    NotFoundError,
    RequestTimeoutError,
    WorkerDiedError,
    WorkerError,
    WorkerTypeError,
)
from sfuctl.server.media.fbs.Message import Body as MessageBody
from sfuctl.server.media.fbs.Message import Message as MessageMod
from sfuctl.server.media.fbs.Request.Method import Method
from sfuctl.server.media.fbs.Response.Response import Response

MESSAGE_MAX_LEN = 8 * 1024 * 1024
"""Largest message, length prefix included (the worker's own limit)."""

DEFAULT_REQUEST_TIMEOUT = 15.0

_LEN = struct.Struct("<I")
_METHOD_NAMES: dict[int, str] = {v: k for k, v in vars(Method).items() if not k.startswith("_")}

NotificationHandler = Callable[[int, Any], None]
"""Called with (event, body dict or None)."""

LateAnswerHandler = Callable[[], None]
"""What a create passes as ``on_late``: closes the object a late (or unwanted) answer created."""

LATE_MAX = 4096
"""Timed-out requests remembered for their late answer; beyond that the oldest is forgotten."""

worker_log = logging.getLogger("sfuctl.worker")
log = logging.getLogger("sfuctl.channel")


def _ignore_result(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def method_name(method: int) -> str:
    return _METHOD_NAMES.get(method, str(method))


class FrameDecoder:
    """Splits a byte stream into size-prefixed messages; kept apart from I/O so framing is testable."""

    def __init__(self, max_len: int = MESSAGE_MAX_LEN) -> None:
        self._buf = bytearray()
        self._max_len = max_len

    def feed(self, data: bytes) -> list[bytes]:
        """Return every complete message payload; raise ValueError on an oversize frame."""
        buf = self._buf
        buf += data
        out: list[bytes] = []
        start = 0
        end = len(buf)
        while end - start >= 4:
            (size,) = _LEN.unpack_from(buf, start)
            if size + 4 > self._max_len:
                self._buf = bytearray()
                raise ValueError(f"frame of {size} bytes exceeds the {self._max_len} byte limit")
            if end - start < 4 + size:
                break
            out.append(bytes(buf[start + 4 : start + 4 + size]))
            start += 4 + size
        if start:
            del buf[:start]
        return out


class _Pending:
    __slots__ = ("future", "method", "on_late", "timer")

    def __init__(
        self,
        future: asyncio.Future[Any],
        method: int,
        timer: asyncio.TimerHandle,
        on_late: LateAnswerHandler | None = None,
    ) -> None:
        self.future = future
        self.method = method
        self.timer = timer
        self.on_late = on_late


class _ReadProtocol(asyncio.Protocol):
    def __init__(self, channel: Channel) -> None:
        self._channel = channel

    def data_received(self, data: bytes) -> None:
        self._channel._on_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._channel._on_eof(exc)


class Channel:
    """One worker's channel. Create with :meth:`open` once the worker process holds the peer ends."""

    def __init__(self, pid: int, request_timeout: float = DEFAULT_REQUEST_TIMEOUT) -> None:
        self.pid = pid
        self.request_timeout = request_timeout
        self.closed = False
        self._loop = asyncio.get_running_loop()
        self._decoder = FrameDecoder()
        self._next_id = 0
        self._pending: dict[int, _Pending] = {}
        self._late: dict[int, _Pending] = {}
        self._close_reason: Exception | None = None
        """Timed-out creates whose answer may still come: it must undo what it created."""
        self._handlers: dict[str, NotificationHandler] = {}
        self._codec = codec.load()
        self._write: asyncio.Transport | None = None
        self._read: asyncio.Transport | None = None
        self._eof_callbacks: list[Callable[[], None]] = []
        self._outgoing: list[bytes] = []

    async def open(self, write_sock: socket.socket, read_sock: socket.socket) -> None:
        write_sock.setblocking(False)
        read_sock.setblocking(False)
        self._write, _ = await self._loop.create_connection(asyncio.Protocol, sock=write_sock)
        self._read, _ = await self._loop.create_connection(lambda: _ReadProtocol(self), sock=read_sock)

    def on_eof(self, callback: Callable[[], None]) -> None:
        """Register a callback for the worker closing its end (it died or exited)."""
        self._eof_callbacks.append(callback)

    # -- handlers -----------------------------------------------------------------------------

    def add_handler(self, handler_id: str, handler: NotificationHandler) -> None:
        self._handlers[handler_id] = handler

    def remove_handler(self, handler_id: str) -> None:
        self._handlers.pop(handler_id, None)

    # -- sending ------------------------------------------------------------------------------

    async def request(
        self,
        method: int,
        handler_id: str = "",
        body_type: int = 0,
        body: Any = None,
        timeout: float | None = None,
        on_late: LateAnswerHandler | None = None,
    ) -> Any:
        """Send a request (``body`` a dict of the ``body_type`` table) and return the response's
        body dict, or None.

        A create passes ``on_late``: it is called if the worker accepts the request after it
        timed out, or after the caller stopped waiting (cancelled), to close what it created.
        """
        return await self.send_request(method, handler_id, body_type, body, timeout, on_late)

    def send_request(
        self,
        method: int,
        handler_id: str = "",
        body_type: int = 0,
        body: Any = None,
        timeout: float | None = None,
        on_late: LateAnswerHandler | None = None,
    ) -> asyncio.Future[Any]:
        """Write a request now and return the future of its answer.

        Writing synchronously keeps requests in call order, which fire-and-forget closes rely on.
        """
        if self.closed:
            if isinstance(self._close_reason, WorkerDiedError):
                raise WorkerDiedError(
                    f"worker {self.pid} died, cannot send request [method:{method_name(method)}]"
                )
            raise InvalidStateError(f"channel closed, cannot send request [method:{method_name(method)}]")
        self._next_id = self._next_id + 1 if self._next_id < 0xFFFFFFFF else 1
        req_id = self._next_id
        data: dict[str, Any] = {"id": req_id, "method": method, "handlerId": handler_id}
        if body is not None:
            data["bodyType"] = body_type
            data["body"] = body
        self._send_message({"dataType": MessageBody.Body.Request, "data": data}, method_name(method))
        future: asyncio.Future[Any] = self._loop.create_future()
        delay = self.request_timeout if timeout is None else timeout
        timer = self._loop.call_later(delay, self._on_timeout, req_id, delay)
        self._pending[req_id] = _Pending(future, method, timer, on_late)
        return future

    def fire(self, method: int, handler_id: str = "", body_type: int = 0, body: Any = None) -> None:
        """Send a request whose answer does not matter (closes); never raises, even when closed."""
        if self.closed:
            return
        future = self.send_request(method, handler_id, body_type, body)
        future.add_done_callback(_ignore_result)

    def notify(self, event: int, handler_id: str = "", body_type: int = 0, body: Any = None) -> None:
        """Send a one-way notification (no answer)."""
        if self.closed:
            raise InvalidStateError(f"channel closed, cannot send notification [event:{event}]")
        data: dict[str, Any] = {"handlerId": handler_id, "event": event}
        if body is not None:
            data["bodyType"] = body_type
            data["body"] = body
        self._send_message({"dataType": MessageBody.Body.Notification, "data": data}, f"event {event}")

    def _send_message(self, message: dict[str, Any], what: str) -> None:
        payload = self._codec.encode(message)
        if len(payload) > MESSAGE_MAX_LEN:
            raise ValueError(f"message too big [{what}, {len(payload)} bytes]")
        # Messages written in the same loop iteration go out in one write (one syscall, one
        # wake-up of the worker) instead of one each.
        self._outgoing.append(payload)
        if len(self._outgoing) == 1:
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        if self._outgoing and self._write is not None and not self._write.is_closing():
            self._write.writelines(self._outgoing)
        self._outgoing.clear()

    # -- receiving ----------------------------------------------------------------------------

    def _on_data(self, data: bytes) -> None:
        try:
            frames = self._decoder.feed(data)
        except ValueError as error:
            log.error("worker %s sent an invalid frame, dropping buffered data: %s", self.pid, error)
            return
        for frame in frames:
            try:
                self._dispatch(frame)
            except Exception:
                log.exception("worker %s sent a message that could not be handled", self.pid)

    def _dispatch(self, frame: bytes) -> None:
        try:
            message = self._codec.decode(frame)
        except ValueError as error:
            self._on_invalid_frame(frame, error)
            return
        data_type = message["dataType"]
        data = message["data"]
        if data_type == MessageBody.Body.Response:
            self._on_response(data)
        elif data_type == MessageBody.Body.Notification:
            self._on_notification(data)
        elif data_type == MessageBody.Body.Log:
            self._on_log(data["data"])
        else:
            log.warning("worker %s sent an unexpected message type %s", self.pid, data_type)

    def _on_invalid_frame(self, frame: bytes, error: ValueError) -> None:
        """A frame that does not verify: if it still names a pending request, that request fails
        (instead of waiting for its timeout); nothing else is touched."""
        log.error("worker %s sent an invalid message (%s bytes): %s", self.pid, len(frame), error)
        try:
            message = MessageMod.Message.GetRootAs(frame, 0)
            if message.DataType() != MessageBody.Body.Response:
                return
            table = message.Data()
            response = Response()
            response.Init(table.Bytes, table.Pos)
            req_id = response.Id()
        except Exception:  # the id is a best guess from a corrupt frame
            return
        pending = self._pending.pop(req_id, None)
        if pending is None:
            return
        pending.timer.cancel()
        if not pending.future.done():
            pending.future.set_exception(
                WorkerError(f"invalid answer [method:{method_name(pending.method)}]: {error}")
            )

    def _on_response(self, response: dict[str, Any]) -> None:
        pending = self._pending.pop(response["id"], None)
        if pending is None:
            late = self._late.pop(response["id"], None)
            if late is None:
                log.error("worker %s answered unknown request id %s", self.pid, response["id"])
            else:
                self._undo_late(late, response["accepted"], "after its timeout")
            return
        pending.timer.cancel()
        if pending.future.done():  # the caller stopped waiting (cancelled)
            self._undo_late(pending, response["accepted"], "after its caller gave up")
            return
        if response["accepted"]:
            pending.future.set_result(response["body"])
            return
        error = response["error"] or ""
        reason = response["reason"] or ""
        name = method_name(pending.method)
        log.debug("request failed [method:%s]: %s %s", name, error, reason)
        exc: Exception
        if error == "TypeError":
            exc = WorkerTypeError(reason)
        elif error == "NotFoundError":
            exc = NotFoundError(reason)
        else:
            exc = WorkerError(reason or f"request failed [method:{name}]")
        pending.future.set_exception(exc)

    def _on_notification(self, notification: dict[str, Any]) -> None:
        handler = self._handlers.get(notification["handlerId"] or "")
        if handler is None:
            return
        # Deferred like mediasoup's setImmediate: a response in the same read resolves first, so
        # the object it creates can register its handler before its first notification arrives.
        self._loop.call_soon(self._run_handler, handler, notification["event"], notification["body"])

    @staticmethod
    def _run_handler(handler: NotificationHandler, event: int, body: Any) -> None:
        try:
            handler(event, body)
        except Exception:
            log.exception("notification handler failed [event:%s]", event)

    def _on_log(self, line: str) -> None:
        if not line:
            return
        level = {"D": logging.DEBUG, "W": logging.WARNING, "E": logging.ERROR}.get(line[0])
        if level is None:  # 'X': worker dumps meant for stdout
            worker_log.info("[pid:%s] %s", self.pid, line[1:])
        else:
            worker_log.log(level, "[pid:%s] %s", self.pid, line[1:])

    def _on_timeout(self, req_id: int, delay: float) -> None:
        pending = self._pending.pop(req_id, None)
        if pending is None:
            return
        if pending.on_late is not None:
            if len(self._late) >= LATE_MAX:
                self._late.pop(next(iter(self._late)))
            self._late[req_id] = pending
        if not pending.future.done():
            pending.future.set_exception(
                RequestTimeoutError(
                    f"worker {self.pid} did not answer in {delay} s [method:{method_name(pending.method)}]"
                )
            )

    def _undo_late(self, pending: _Pending, accepted: bool, when: str) -> None:
        """An answer nobody waits for: if it created something, close it (no orphan in the worker)."""
        if not accepted or pending.on_late is None:
            return
        log.warning(
            "worker %s created an object %s, closing it [method:%s]",
            self.pid,
            when,
            method_name(pending.method),
        )
        try:
            pending.on_late()
        except Exception:
            log.exception("closing a late-created object failed [method:%s]", method_name(pending.method))

    def _on_eof(self, exc: Exception | None) -> None:
        if self.closed:
            return
        log.debug("worker %s closed its channel (%s)", self.pid, exc)
        self.close(WorkerDiedError(f"worker {self.pid} channel ended"))
        for callback in self._eof_callbacks:
            callback()

    # -- closing ------------------------------------------------------------------------------

    def close(self, reason: Exception | None = None) -> None:
        """Close the sockets and fail every pending request with ``reason``."""
        if self.closed:
            return
        self.closed = True
        self._close_reason = reason
        error = reason or InvalidStateError("channel closed")
        for pending in self._pending.values():
            pending.timer.cancel()
            if not pending.future.done():
                pending.future.set_exception(error)
        self._pending.clear()
        self._late.clear()
        self._handlers.clear()
        self._flush()  # e.g. WORKER_CLOSE, written just before closing
        for transport in (self._write, self._read):
            if transport is not None:
                transport.close()
