"""The worker process and its channel, against the real mediasoup-worker binary."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import pytest

from sfuctl.server.media.errors import InvalidStateError, RequestTimeoutError, WorkerDiedError
from sfuctl.server.media.fbs.Request.Method import Method
from sfuctl.server.media.worker import Worker, WorkerSettings, WorkerStartError
from tests.conftest import process_exists


async def test_worker_announces_itself_and_dumps_its_pid(worker: Worker) -> None:
    assert process_exists(worker.pid)
    dump = await worker.dump()
    assert dump["pid"] == worker.pid
    assert dump["routerIds"] == []
    assert dump["webRtcServerIds"] == []


async def test_resource_usage(worker: Worker) -> None:
    usage = await worker.get_resource_usage()
    assert usage.ru_maxrss > 0
    assert usage.ru_utime >= 0


async def test_many_concurrent_requests_are_correlated(worker: Worker) -> None:
    dumps = await asyncio.gather(*(worker.dump() for _ in range(300)))
    assert {d["pid"] for d in dumps} == {worker.pid}


async def test_update_settings_and_worker_logs_reach_python_logging(
    worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sfuctl.worker")
    await worker.update_settings(log_level="debug", log_tags=["info"])
    await worker.dump()  # the worker logs its requests at debug level
    worker_lines = [r for r in caplog.records if r.name == "sfuctl.worker"]
    assert any(f"[pid:{worker.pid}]" in r.getMessage() for r in worker_lines)


async def test_update_settings_rejects_bad_log_level(worker: Worker) -> None:
    with pytest.raises(TypeError):
        await worker.update_settings(log_level="loud")


async def test_wrong_settings_fail_start_with_exit_42() -> None:
    settings = WorkerSettings(
        dtls_certificate_file="/nonexistent/cert.pem", dtls_private_key_file="/nonexistent/key.pem"
    )
    with pytest.raises(WorkerStartError, match="wrong settings") as info:
        await Worker.start(settings)
    assert info.value.exit_code == 42


async def test_bad_port_range_is_refused_before_spawning() -> None:
    with pytest.raises(TypeError):
        await Worker.start(WorkerSettings(rtc_min_port=2000, rtc_max_port=1000))


async def test_request_times_out_when_worker_does_not_answer(worker: Worker) -> None:
    os.kill(worker.pid, signal.SIGSTOP)
    try:
        with pytest.raises(RequestTimeoutError):
            await worker.channel.request(Method.WORKER_DUMP, timeout=0.3)
    finally:
        os.kill(worker.pid, signal.SIGCONT)
    # The channel is still usable after a timeout.
    assert (await worker.dump())["pid"] == worker.pid


async def test_sigkill_emits_died_and_fails_pending_requests_at_once() -> None:
    worker = await Worker.start()
    died: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
    worker.on("died", lambda code: died.set_result(code))
    os.kill(worker.pid, signal.SIGSTOP)  # so the request below is pending for sure
    pending = asyncio.ensure_future(worker.channel.request(Method.WORKER_DUMP, timeout=30))
    await asyncio.sleep(0.05)
    os.kill(worker.pid, signal.SIGKILL)
    code = await asyncio.wait_for(died, 5)
    assert code == -signal.SIGKILL
    with pytest.raises(WorkerDiedError):
        await asyncio.wait_for(pending, 2)  # fails fast, not after its 30 s timeout
    assert worker.closed and worker.died
    with pytest.raises(InvalidStateError):
        await worker.dump()
    assert not process_exists(worker.pid)


async def test_close_leaves_no_process_behind() -> None:
    workers = [await Worker.start() for _ in range(3)]
    closed = []
    for w in workers:
        w.on("close", lambda w=w: closed.append(w.pid))
        w.close()
        w.close()  # idempotent
    codes = [await w.wait_closed() for w in workers]
    assert codes == [0, 0, 0]
    assert sorted(closed) == sorted(w.pid for w in workers)
    assert not any(process_exists(w.pid) for w in workers)
    with pytest.raises(InvalidStateError):
        await workers[0].dump()


async def test_worker_exits_by_itself_when_its_channel_closes() -> None:
    """Workers have their own process group; if the server dies, the closed channel ends them."""
    worker = await Worker.start()
    assert os.getpgid(worker.pid) == worker.pid != os.getpgid(0)
    assert worker.channel._write is not None and worker.channel._read is not None
    worker.channel._write.abort()  # what the kernel does to a SIGKILLed server's sockets
    worker.channel._read.abort()
    assert await worker.wait_closed(timeout=5) == 0
    assert not process_exists(worker.pid)
