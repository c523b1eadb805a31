"""A create whose request timed out must not leave an orphan in the worker.

The worker is SIGSTOPped before the create is sent, so the request times out, then SIGCONTed: it
then creates the object anyway and answers late. The controller must close what that late
answer created. Dumps are read twice after SIGCONT: the worker answers in order, so the first
dump's answer comes after the late answer (whose handling sends the close), and the second dump
is handled by the worker after that close.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from sfuctl.server.media.errors import RequestTimeoutError
from sfuctl.server.media.router import Router
from sfuctl.server.media.webrtc_transport import WebRtcTransport
from sfuctl.server.media.worker import Worker, WorkerSettings
from tests.conftest import free_port, process_exists

REQUEST_TIMEOUT = 0.5
LOOPBACK_UDP = [{"protocol": "udp", "ip": "127.0.0.1"}]
AUDIO = {
    "mid": "0",
    "codecs": [{"mimeType": "audio/opus", "payloadType": 111, "clockRate": 48000, "channels": 2}],
    "encodings": [{"ssrc": 11111111}],
}
CODECS = [{"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2}]


@dataclass
class Setup:
    worker: Worker
    router: Router
    send: WebRtcTransport
    recv: WebRtcTransport


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    worker = await Worker.start(WorkerSettings(log_level="warn", request_timeout=REQUEST_TIMEOUT))
    try:
        router = await worker.create_router(CODECS)
        send = await router.create_webrtc_transport(listen_infos=LOOPBACK_UDP, enable_sctp=True)
        recv = await router.create_webrtc_transport(listen_infos=LOOPBACK_UDP, enable_sctp=True)
        yield Setup(worker, router, send, recv)
    finally:
        os.kill(worker.pid, signal.SIGCONT)
        worker.close()
        await worker.wait_closed()
        assert not process_exists(worker.pid)


def process_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][0]


async def stopped(pid: int) -> None:
    """SIGSTOP the worker and wait (bounded) until it is really stopped."""
    os.kill(pid, signal.SIGSTOP)
    for _ in range(200):
        if process_state(pid) == "T":
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"worker {pid} did not stop")


def ids(value: Any) -> list[str]:
    return sorted(value) if isinstance(value, list | dict) else []


async def worker_objects(s: Setup) -> dict[str, list[str]]:
    worker = await s.worker.dump()
    router = await s.router.dump()
    found = {
        "routers": ids(worker["routerIds"]),
        "webrtcServers": ids(worker["webRtcServerIds"]),
        "transports": ids(router["transportIds"]),
        "rtpObservers": ids(router["rtpObserverIds"]),
    }
    for transport in (s.send, s.recv):
        dump = await transport.dump()
        for key in ("producerIds", "consumerIds", "dataProducerIds", "dataConsumerIds"):
            found.setdefault(key, []).extend(ids(dump.get(key)))
    return found


async def produced(s: Setup) -> str:
    return (await s.send.produce("audio", AUDIO)).id


async def data_produced(s: Setup) -> str:
    return (await s.send.produce_data({"streamId": 1, "ordered": True})).id


CREATES: dict[
    str, tuple[Callable[[Setup], Awaitable[Any]] | None, Callable[[Setup, Any], Awaitable[Any]]]
] = {
    "router": (None, lambda s, _: s.worker.create_router(CODECS)),
    "webrtc-server": (
        None,
        lambda s, _: s.worker.create_webrtc_server(
            [{"protocol": "udp", "ip": "127.0.0.1", "port": free_port()}]
        ),
    ),
    "webrtc-transport": (None, lambda s, _: s.router.create_webrtc_transport(listen_infos=LOOPBACK_UDP)),
    "plain-transport": (None, lambda s, _: s.router.create_plain_transport(listen_info=LOOPBACK_UDP[0])),
    "active-speaker-observer": (None, lambda s, _: s.router.create_active_speaker_observer()),
    "audio-level-observer": (None, lambda s, _: s.router.create_audio_level_observer()),
    "producer": (None, lambda s, _: s.send.produce("audio", AUDIO)),
    "consumer": (produced, lambda s, pid: s.recv.consume(pid, s.router.rtp_capabilities)),
    "data-producer": (None, lambda s, _: s.send.produce_data({"streamId": 1, "ordered": True})),
    "data-consumer": (data_produced, lambda s, did: s.recv.consume_data(did)),
}


@pytest.mark.parametrize("what", sorted(CREATES))
async def test_a_late_answer_to_a_timed_out_create_closes_what_it_created(setup: Setup, what: str) -> None:
    prepare, create = CREATES[what]
    argument = await prepare(setup) if prepare is not None else None
    before = await worker_objects(setup)
    await stopped(setup.worker.pid)
    try:
        with pytest.raises(RequestTimeoutError):
            await asyncio.wait_for(create(setup, argument), REQUEST_TIMEOUT * 10)
    finally:
        os.kill(setup.worker.pid, signal.SIGCONT)
    await setup.worker.dump()  # answered after the late answer: its close has been sent
    after = await worker_objects(setup)
    assert after == before, f"orphan left by a timed-out {what}"


async def test_a_late_answer_to_a_cancelled_create_closes_what_it_created(setup: Setup) -> None:
    """The caller gave up (e.g. its client disconnected) before the worker answered."""
    before = await worker_objects(setup)
    await stopped(setup.worker.pid)
    try:
        task = asyncio.get_running_loop().create_task(
            setup.router.create_webrtc_transport(listen_infos=LOOPBACK_UDP)
        )
        for _ in range(100):  # bounded: until the request is on its way to the worker
            if setup.worker.channel._pending:
                break
            await asyncio.sleep(0)
        assert setup.worker.channel._pending
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        os.kill(setup.worker.pid, signal.SIGCONT)
    await setup.worker.dump()
    assert await worker_objects(setup) == before
