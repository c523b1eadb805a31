"""What a client is told when the media side fails: timeouts, dead workers, and server bugs.

A worker that does not answer is a ``timeout`` (and what it creates late is closed, see
test_late_answers), a worker that dies under a request is ``worker_died``, a malformed mediasoup
structure is ``bad_request``, and anything else the controller raises is ``internal``: logged
once with its traceback, and told to the client without internals.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from typing import Any

import pytest

from sfuctl.server.media.webrtc_transport import WebRtcTransport
from sfuctl.server.media.worker import WorkerSettings
from tests.conftest import RunningServer, start_server
from tests.integration.test_late_answers import stopped
from tests.signaling_client import SignalingClient

SMALL_TIMEOUT = 0.5


async def joined(server: RunningServer, room: str, user: str) -> SignalingClient:
    client = SignalingClient()
    await client.connect(server.ws_url, server.token(room, user))
    await client.request("join-room")
    return client


async def test_a_worker_that_does_not_answer_is_a_timeout_and_leaves_no_orphan() -> None:
    running = await start_server(worker=WorkerSettings(log_level="warn", request_timeout=SMALL_TIMEOUT))
    try:
        client = await joined(running, "slow", "u")
        worker = running.sfu.pool.workers[0]
        room = running.sfu.registry.get("slow")
        assert room is not None
        before = await room.router.dump()
        await stopped(worker.pid)
        try:
            frame = await client.request_frame("create-transport", {"direction": "send"})
        finally:
            os.kill(worker.pid, signal.SIGCONT)
        assert frame["ok"] is False and frame["error"]["code"] == "timeout", frame
        assert str(worker.pid) not in frame["error"]["message"]  # no internals
        await worker.dump()  # answered after the late answer, whose close has then been sent
        assert (await room.router.dump())["transportIds"] == before["transportIds"]
        # The peer holds nothing it was not told about, and carries on.
        peer = room.peers["u"]
        assert peer.transports == {}
        assert (await client.request("create-transport", {"direction": "send"}))["id"]
        await client.close()
    finally:
        await running.stop()


async def test_a_worker_that_dies_under_a_request_is_worker_died() -> None:
    running = await start_server()
    try:
        client = await joined(running, "doomed", "u")
        worker = running.sfu.pool.workers[0]
        await stopped(worker.pid)
        answer = asyncio.get_running_loop().create_task(
            client.request_frame("create-transport", {"direction": "send"})
        )
        for _ in range(500):  # bounded: until the server's request is on its way to the worker
            if worker.channel._pending:
                break
            await asyncio.sleep(0.01)
        assert worker.channel._pending
        os.kill(worker.pid, signal.SIGKILL)
        frame = await asyncio.wait_for(answer, 10)
        assert frame["ok"] is False and frame["error"]["code"] == "worker_died", frame
        await client.close()
    finally:
        await running.stop()


FAULTS: dict[str, Callable[[], Exception]] = {
    "TypeError": lambda: TypeError("unsupported operand type(s) for +: 'int' and 'NoneType'"),
    "KeyError": lambda: KeyError("iceParameters"),
    "RuntimeError": lambda: RuntimeError("invariant broken"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_an_unexpected_controller_error_is_internal_and_logged_once(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, fault: str
) -> None:
    client = await joined(server, "r", "u")
    send = await client.request("create-transport", {"direction": "send"})
    error = FAULTS[fault]()

    async def broken(_self: WebRtcTransport) -> dict[str, Any]:
        raise error  # a bug in the controller, injected: nothing a client could have caused

    monkeypatch.setattr(WebRtcTransport, "restart_ice", broken)
    caplog.clear()
    caplog.set_level(logging.INFO)
    frame = await client.request_frame("restart-ice", {"transportId": send["id"]})
    assert frame["ok"] is False and frame["error"] == {"code": "internal", "message": "internal error"}
    with_traceback = [r for r in caplog.records if r.exc_info]
    assert len(with_traceback) == 1, [r.getMessage() for r in with_traceback]
    record = with_traceback[0]
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert record.exc_info[1] is error
    fields = (record.room, record.user, record.type)  # type: ignore[attr-defined]
    assert fields == ("r", "u", "restart-ice"), fields
    monkeypatch.undo()
    assert (await client.request("restart-ice", {"transportId": send["id"]}))["iceParameters"]
    await client.close()


OPUS = {"mimeType": "audio/opus", "payloadType": 111, "clockRate": 48000, "channels": 2}
MALFORMED: dict[str, tuple[str, dict[str, Any]]] = {
    "codecs-not-a-list": ("rtpParameters", {"codecs": 3}),
    "payload-type-negative": ("rtpParameters", {"codecs": [dict(OPUS, payloadType=-1)]}),
    "payload-type-too-big": ("rtpParameters", {"codecs": [dict(OPUS, payloadType=1000)]}),
    "ssrc-too-big": ("rtpParameters", {"codecs": [OPUS], "encodings": [{"ssrc": 2**40}]}),
    "negative-max-bitrate": ("rtpParameters", {"codecs": [OPUS], "encodings": [{"maxBitrate": -5}]}),
    "huge-codec-parameter": ("rtpParameters", {"codecs": [dict(OPUS, parameters={"x": 2**40})]}),
    "header-extension-id-too-big": (
        "rtpParameters",
        {"codecs": [OPUS], "headerExtensions": [{"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": 300}]},
    ),
    "dtls-role-a-list": ("dtlsParameters", {"fingerprints": [], "role": []}),
    "dtls-algorithm-a-dict": ("dtlsParameters", {"fingerprints": [{"algorithm": {}, "value": "AB"}]}),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
async def test_malformed_mediasoup_structures_are_still_bad_requests(
    server: RunningServer, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    client = await joined(server, "r", "u")
    send = await client.request("create-transport", {"direction": "send"})
    field, value = MALFORMED[case]
    if field == "rtpParameters":
        request = ("produce", {"transportId": send["id"], "kind": "audio", "rtpParameters": value})
    else:
        request = ("connect-transport", {"transportId": send["id"], "dtlsParameters": value})
    caplog.clear()
    frame = await client.request_frame(*request)
    assert frame["ok"] is False and frame["error"]["code"] == "bad_request", frame
    assert frame["error"]["message"]
    assert not [r for r in caplog.records if r.exc_info]  # a client's mistake is not a server error
    assert (await client.request("create-transport", {"direction": "recv"}))["id"]
    await client.close()


async def test_a_request_the_worker_refuses_is_a_bad_request(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker's own refusal (here: an SSRC already in use) is the request's fault, not the server's."""
    client = await joined(server, "r", "u")
    send = await client.request("create-transport", {"direction": "send"})
    params = {"mid": "0", "codecs": [OPUS], "encodings": [{"ssrc": 12345678}]}
    await client.request("produce", {"transportId": send["id"], "kind": "audio", "rtpParameters": params})
    caplog.clear()
    again = dict(params, mid="1")
    frame = await client.request_frame(
        "produce", {"transportId": send["id"], "kind": "audio", "rtpParameters": again}
    )
    assert frame["ok"] is False and frame["error"]["code"] == "bad_request", frame
    assert "ssrc" in frame["error"]["message"].lower()
    assert not [r for r in caplog.records if r.exc_info]
    await client.close()
