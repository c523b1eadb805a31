"""Port of mediasoup's test-Worker.js to our Worker.

==========================================================================  ===========================
mediasoup case                                                              here
==========================================================================  ===========================
mediasoup.workerBin matches mediasoup-worker absolute path                  ported (adapted: our
                                                                            find_worker_bin())
mediasoup.createWorker() succeeds                                           ported (minus the global
                                                                            ``newworker`` observer and
                                                                            ``appData``: no such API)
mediasoup.createWorker() with wrong settings rejects with TypeError         ported, parametrized
                                                                            (worker-side rejections
                                                                            are WorkerStartError 42;
                                                                            appData case: no API)
mediasoup.createWorker() with wrong `workerBin` rejects with Error          ported
worker.updateSettings() succeeds                                            ported
worker.updateSettings() with wrong settings rejects with TypeError          ported
worker.updateSettings() rejects with WorkerClosedError if closed            ported (InvalidStateError)
worker.dump() succeeds                                                      ported
worker.dump() rejects with WorkerClosedError if closed                      ported (InvalidStateError)
worker.getResourceUsage() succeeds                                          ported
worker.close() succeeds                                                     ported
Worker emits "died" if mediasoup-worker process died unexpectedly           ported, parametrized by
                                                                            signal
mediasoup-worker process ignores PIPE, HUP, ALRM, USR1 and USR2 signals     ported (a request round
                                                                            trip instead of a 2 s wait)
==========================================================================  ===========================
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sfuctl.server.media.errors import InvalidStateError
from sfuctl.server.media.worker import EXIT_WRONG_SETTINGS, Worker, WorkerSettings, WorkerStartError
from sfuctl.server.media.worker_bin import find_worker_bin
from tests.conformance.conftest import EVENT_TIMEOUT, Recorder
from tests.conftest import process_exists


async def _close(worker: Worker) -> None:
    worker.close()
    await worker.wait_closed()


@pytest.fixture
async def closed_worker() -> AsyncIterator[Worker]:
    worker = await Worker.start(WorkerSettings(log_level="warn"))
    await _close(worker)
    yield worker


@pytest.fixture(scope="module")
def dtls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and key (mediasoup's test/data/dtls-*.pem)."""
    directory = tmp_path_factory.mktemp("dtls")
    cert, key = directory / "dtls-cert.pem", directory / "dtls-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=mediasoup-test", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_worker_bin_is_an_absolute_executable_path() -> None:
    worker_bin = find_worker_bin()
    assert os.path.isabs(worker_bin)
    assert os.access(worker_bin, os.X_OK)
    assert os.path.basename(worker_bin) == "mediasoup-worker"


async def test_start_succeeds_with_default_settings() -> None:
    worker = await Worker.start()
    assert isinstance(worker.pid, int)
    assert worker.closed is False
    assert worker.exited is False
    assert worker.died is False

    worker.close()
    await asyncio.wait_for(worker.wait_closed(), EVENT_TIMEOUT)
    assert worker.closed is True
    assert worker.exited is True
    assert worker.died is False
    assert not process_exists(worker.pid)


async def test_start_succeeds_with_every_setting(dtls_files: tuple[Path, Path]) -> None:
    cert, key = dtls_files
    worker = await Worker.start(
        WorkerSettings(
            log_level="debug",
            log_tags=["info"],
            rtc_min_port=0,
            rtc_max_port=9999,
            dtls_certificate_file=str(cert),
            dtls_private_key_file=str(key),
            libwebrtc_field_trials="WebRTC-Bwe-AlrLimitedBackoff/Disabled/",
        )
    )
    assert isinstance(worker.pid, int)
    assert worker.closed is False
    assert worker.died is False
    await _close(worker)
    assert worker.closed is True
    assert worker.exited is True
    assert worker.died is False


async def test_start_accepts_rtc_min_port_zero() -> None:
    worker = await Worker.start(WorkerSettings(rtc_min_port=0, rtc_max_port=9999))
    await _close(worker)


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param(WorkerSettings(log_level="chicken"), id="logLevel=chicken"),
        pytest.param(WorkerSettings(rtc_min_port=1000, rtc_max_port=999), id="rtcMinPort>rtcMaxPort"),
        pytest.param(WorkerSettings(rtc_min_port=1000, rtc_max_port=65536), id="rtcMaxPort=65536"),
    ],
)
async def test_start_with_wrong_settings_raises_type_error(settings: WorkerSettings) -> None:
    with pytest.raises(TypeError):
        await Worker.start(settings)


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param(WorkerSettings(dtls_certificate_file="/notfound/cert.pem"), id="dtlsCertificateFile"),
        pytest.param(WorkerSettings(dtls_private_key_file="/notfound/priv.pem"), id="dtlsPrivateKeyFile"),
    ],
)
async def test_start_with_settings_the_worker_rejects_fails(settings: WorkerSettings) -> None:
    # mediasoup turns the worker's exit code 42 into a TypeError; ours is WorkerStartError(42).
    with pytest.raises(WorkerStartError) as info:
        await Worker.start(settings)
    assert info.value.exit_code == EXIT_WRONG_SETTINGS


async def test_start_with_wrong_worker_bin_raises() -> None:
    with pytest.raises(OSError):
        await Worker.start(WorkerSettings(worker_bin="/tmp/foo/mediasoup-worker"))


async def test_update_settings_succeeds(worker: Worker) -> None:
    await worker.update_settings(log_level="debug", log_tags=["ice"])


async def test_update_settings_with_wrong_settings_raises_type_error(worker: Worker) -> None:
    with pytest.raises(TypeError):
        await worker.update_settings(log_level="chicken")


async def test_update_settings_on_closed_worker_raises(closed_worker: Worker) -> None:
    with pytest.raises(InvalidStateError):
        await closed_worker.update_settings(log_level="error")


async def test_dump_succeeds() -> None:
    worker = await Worker.start(WorkerSettings(worker_bin=find_worker_bin()))
    try:
        assert await worker.dump() == {
            "pid": worker.pid,
            "webRtcServerIds": [],
            "routerIds": [],
            "channelMessageHandlers": {"channelRequestHandlers": [], "channelNotificationHandlers": []},
        }
    finally:
        await _close(worker)


async def test_dump_on_closed_worker_raises(closed_worker: Worker) -> None:
    with pytest.raises(InvalidStateError):
        await closed_worker.dump()


async def test_get_resource_usage_succeeds(worker: Worker) -> None:
    usage = await worker.get_resource_usage()
    assert usage.ru_maxrss > 0


async def test_close_succeeds() -> None:
    worker = await Worker.start(WorkerSettings(log_level="warn"))
    on_observer_close = Recorder()
    worker.observer.once("close", on_observer_close)
    worker.close()
    await asyncio.wait_for(worker.wait_closed(), EVENT_TIMEOUT)
    assert on_observer_close.count == 1
    assert worker.closed is True
    assert worker.exited is True
    assert worker.died is False


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
async def test_died_is_emitted_when_the_process_dies(signum: signal.Signals) -> None:
    worker = await Worker.start(WorkerSettings(log_level="warn"))
    on_observer_close = Recorder()
    worker.observer.once("close", on_observer_close)
    died: asyncio.Future[tuple[bool, int]] = asyncio.get_running_loop().create_future()

    def on_died(*_args: object) -> None:
        # At 'died' time: closed already, observer 'close' not yet.
        if not died.done():
            died.set_result((worker.closed, on_observer_close.count))

    on_died_recorder = Recorder()
    worker.on("died", on_died_recorder)
    worker.on("died", on_died)
    try:
        os.kill(worker.pid, signum)
        closed_at_died, observer_closes_at_died = await asyncio.wait_for(died, EVENT_TIMEOUT)
        assert closed_at_died is True
        assert observer_closes_at_died == 0, 'observer "close" emitted before worker "died"'
        await asyncio.wait_for(worker.wait_closed(), EVENT_TIMEOUT)
        assert on_died_recorder.count == 1
        assert on_observer_close.count == 1
        assert worker.closed is True
        assert worker.exited is True
        assert worker.died is True
    finally:
        await _close(worker)


async def test_worker_ignores_pipe_hup_alrm_usr1_usr2(worker: Worker) -> None:
    on_died = Recorder()
    worker.on("died", on_died)
    for signum in (signal.SIGPIPE, signal.SIGHUP, signal.SIGALRM, signal.SIGUSR1, signal.SIGUSR2):
        os.kill(worker.pid, signum)
    # The worker takes pending signals before it runs again, so an answered request proves that
    # it survived them (mediasoup's test waits 2 s instead).
    assert (await worker.dump())["pid"] == worker.pid
    assert on_died.count == 0
    assert worker.closed is False
    assert worker.exited is False
    assert worker.died is False
    assert process_exists(worker.pid)
