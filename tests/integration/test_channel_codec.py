"""A real worker's channel fed corrupt frames: the request a bad answer names fails, nothing else.

Both codec paths are exercised (the channel's codec is swapped per test).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import struct
from collections.abc import AsyncIterator

import pytest

from sfuctl.server.media import codec
from sfuctl.server.media.errors import WorkerError
from sfuctl.server.media.fbs.Message.Body import Body as MessageBody
from sfuctl.server.media.fbs.Notification.Event import Event
from sfuctl.server.media.worker import Worker

pytestmark = pytest.mark.worker


@pytest.fixture(params=codec.KINDS)
async def worker(request: pytest.FixtureRequest) -> AsyncIterator[Worker]:
    worker = await Worker.start()
    worker.channel._codec = codec.load(request.param)
    yield worker
    worker.close()
    await worker.wait_closed()


def framed(payload: bytes) -> bytes:
    return struct.pack("<I", len(payload)) + payload


def corrupt_answer(req_id: int) -> bytes:
    """A Response for ``req_id`` whose error string claims to run past the end of the frame."""
    good = codec.native().encode(
        {"dataType": MessageBody.Response, "data": {"id": req_id, "accepted": False, "error": "x"}}
    )[4:]
    string = struct.pack("<I", 1) + b"x\x00"
    assert good.count(string) == 1
    return good.replace(string, struct.pack("<I", 0xFFFF) + b"x\x00")


async def test_a_corrupt_answer_fails_its_request_only(worker: Worker) -> None:
    os.kill(worker.pid, signal.SIGSTOP)  # no real answer races the injected one
    try:
        first = worker.channel.send_request(0)  # WORKER_DUMP
        second = worker.channel.send_request(0)
        req_id = worker.channel._next_id - 1
        worker.channel._on_data(framed(corrupt_answer(req_id)))
        with pytest.raises(WorkerError, match="invalid answer"):
            await asyncio.wait_for(first, 2)
        assert not second.done()
    finally:
        os.kill(worker.pid, signal.SIGCONT)
    body = await asyncio.wait_for(second, 5)
    assert body["pid"] == worker.pid
    assert (await worker.dump())["pid"] == worker.pid


async def test_truncated_and_garbage_frames_are_logged_and_dropped(
    worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    notification = codec.native().encode(
        {
            "dataType": MessageBody.Notification,
            "data": {"handlerId": str(worker.pid), "event": Event.WORKER_RUNNING},
        }
    )[4:]
    received: list[int] = []
    worker.channel.add_handler(str(worker.pid), lambda event, _body: received.append(event))
    with caplog.at_level(logging.ERROR, logger="sfuctl.channel"):
        worker.channel._on_data(framed(notification[:-8]) + framed(os.urandom(64)) + framed(b""))
        worker.channel._on_data(framed(notification))  # a good frame after bad ones still counts
        await asyncio.sleep(0)
    assert received == [Event.WORKER_RUNNING]
    assert sum("invalid message" in r.getMessage() for r in caplog.records) == 3
    assert (await worker.dump())["pid"] == worker.pid
