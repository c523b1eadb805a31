"""Shared fixtures and helpers of the conformance suite (ports of mediasoup's own Node tests).

Conventions of the ports, where our controller deliberately differs from mediasoup's Node API:

* A method called on a closed object raises :class:`InvalidStateError` locally, before any request
  reaches the worker. mediasoup sends the request anyway and gets ``NotFoundError`` from the worker
  (object closed) or ``WorkerClosedError`` (worker closed); both map to ``InvalidStateError`` here.
* ``Transport.consume()`` defaults to ``paused=True`` (mediasoup: ``False``); ports always pass
  ``paused`` explicitly where the mediasoup test relies on the default.
* ``enableTraceEvent()`` without argument is ``enable_trace_event([])``.
* ``Router.dump()`` returns its id maps as dicts (``{producerId: [consumerIds]}``), not mediasoup's
  ``[{key, values}]`` lists.
* Listen addresses: 127.0.0.1 only (mediasoup's tests also bind 0.0.0.0).
"""

from __future__ import annotations

import asyncio
import copy
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import flatbuffers
import pytest

from sfuctl.server.media.emitter import EventEmitter
from sfuctl.server.media.entity import Entity
from sfuctl.server.media.fbs.Message.Body import Body as MessageBody
from sfuctl.server.media.fbs.Message.Message import MessageT
from sfuctl.server.media.fbs.Notification.Notification import NotificationT
from sfuctl.server.media.router import Router
from sfuctl.server.media.webrtc_transport import WebRtcTransport
from sfuctl.server.media.worker import Worker

LOOPBACK = "127.0.0.1"
UDP_LOOPBACK: dict[str, Any] = {"protocol": "udp", "ip": LOOPBACK}
EVENT_TIMEOUT = 5.0

# The router codecs of test-WebRtcTransport.js (test-Router.js, test-Producer.js and
# test-Consumer.js use the same three codecs with other unknown parameters).
MEDIA_CODECS: list[dict[str, Any]] = [
    {
        "kind": "audio",
        "mimeType": "audio/opus",
        "clockRate": 48000,
        "channels": 2,
        "parameters": {"useinbandfec": 1, "foo": "bar"},
    },
    {"kind": "video", "mimeType": "video/VP8", "clockRate": 90000},
    {
        "kind": "video",
        "mimeType": "video/H264",
        "clockRate": 90000,
        "parameters": {
            "level-asymmetry-allowed": 1,
            "packetization-mode": 1,
            "profile-level-id": "4d0032",
            "foo": "bar",
        },
    },
]


class Recorder:
    """A listener that records its calls (jest.fn())."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, *args: Any) -> None:
        self.calls.append(args)

    @property
    def count(self) -> int:
        return len(self.calls)


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def next_event(emitter: EventEmitter, event: str) -> asyncio.Future[tuple[Any, ...]]:
    """A future of the arguments of the next ``event`` (mediasoup's enhancedOnce)."""
    future: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()

    def on_event(*args: Any) -> None:
        if not future.done():
            future.set_result(args)

    emitter.once(event, on_event)
    return future


async def wait_event(
    emitter: EventEmitter, event: str, trigger: Callable[[], Awaitable[Any] | None]
) -> tuple[Any, ...]:
    """Run ``trigger`` and wait (bounded) for ``event`` on ``emitter``."""
    future = next_event(emitter, event)
    result = trigger()
    if result is not None:
        await result
    return await asyncio.wait_for(future, EVENT_TIMEOUT)


async def inject_notification(entity: Entity, event: int, body_type: int, body: Any) -> None:
    """Feed a worker notification for ``entity`` through its channel's real decoding path.

    The equivalent of mediasoup's tests emitting a hand-built FlatBuffers notification on
    ``channelForTesting``; handlers run on the next loop iteration, hence the yield.
    """
    notification = NotificationT()
    notification.handlerId = entity.id
    notification.event = event
    notification.bodyType = body_type
    notification.body = body
    message = MessageT()
    message.dataType = MessageBody.Notification
    message.data = notification
    builder = flatbuffers.Builder(1024)
    builder.Finish(message.Pack(builder))
    entity.channel._dispatch(bytes(builder.Output()))
    await asyncio.sleep(0)


@pytest.fixture
def media_codecs() -> list[dict[str, Any]]:
    """The router's media codecs; test modules override this fixture with their own."""
    return copy.deepcopy(MEDIA_CODECS)


@pytest.fixture
async def router(worker: Worker, media_codecs: list[dict[str, Any]]) -> Router:
    return await worker.create_router(media_codecs)


WebRtcTransportFactory = Callable[..., Awaitable[WebRtcTransport]]


@pytest.fixture
def make_webrtc_transport(router: Router) -> WebRtcTransportFactory:
    """``router.create_webrtc_transport`` with loopback UDP unless ``listen_infos`` is given."""

    async def make(**kwargs: Any) -> WebRtcTransport:
        kwargs.setdefault("listen_infos", [dict(UDP_LOOPBACK)])
        return await router.create_webrtc_transport(**kwargs)

    return make


@pytest.fixture
async def transport1(make_webrtc_transport: WebRtcTransportFactory) -> AsyncIterator[WebRtcTransport]:
    yield await make_webrtc_transport()


@pytest.fixture
async def transport2(make_webrtc_transport: WebRtcTransportFactory) -> AsyncIterator[WebRtcTransport]:
    yield await make_webrtc_transport()
