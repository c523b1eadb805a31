"""Port of mediasoup's test-Router.js to our Router.

================================================================================  =====================
mediasoup case                                                                    here
================================================================================  =====================
worker.createRouter() succeeds                                                    ported
worker.createRouter() with invalid codecs rejects with UnsupportedError           ported
worker.createRouter() with wrong arguments rejects with TypeError                 ported, parametrized
worker.createRouter() rejects with WorkerClosedError if Worker is closed          ported
                                                                                  (InvalidStateError)
router.rtpCapabilities getter returns cloned RTP capabilities                     ported
router.updateMediaCodecs() succeeds                                               ported
router.close() succeeds                                                           ported
Router emits "workerclose" if Worker is closed                                    ported
================================================================================  =====================
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sfuctl.server.media.errors import InvalidStateError, UnsupportedError
from sfuctl.server.media.router import Router
from sfuctl.server.media.worker import Worker
from tests.conformance.conftest import Recorder, wait_event

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
        },
        "rtcpFeedback": [],  # ignored
    },
]

UNSUPPORTED_MEDIA_CODECS: list[dict[str, Any]] = [
    {"kind": "audio", "mimeType": "audio/x-aiff", "clockRate": 8000, "channels": 1},
    {"kind": "video", "mimeType": "video/3gpp", "clockRate": 90000},
]


@pytest.fixture
def media_codecs() -> list[dict[str, Any]]:
    return copy.deepcopy(MEDIA_CODECS)


async def test_create_router_succeeds(worker: Worker, media_codecs: list[dict[str, Any]]) -> None:
    on_new_router = Recorder()
    worker.observer.once("newrouter", on_new_router)

    router = await worker.create_router(media_codecs, app_data={"foo": 123})

    assert media_codecs == MEDIA_CODECS  # the caller's codecs are not modified
    assert on_new_router.calls == [(router,)]
    assert isinstance(router.id, str)
    assert router.closed is False
    caps = router.rtp_capabilities
    assert isinstance(caps, dict)
    assert len(caps["codecs"]) == 5  # 3 codecs + 2 RTX codecs
    assert isinstance(caps["headerExtensions"], list)
    assert router.app_data == {"foo": 123}
    router.app_data = {"foo": 222, "bar": "BBB"}

    dump = await worker.dump()
    assert dump["pid"] == worker.pid
    assert dump["webRtcServerIds"] == []
    assert dump["routerIds"] == [router.id]
    assert dump["channelMessageHandlers"] == {
        "channelRequestHandlers": [router.id],
        "channelNotificationHandlers": [],
    }
    assert await router.dump() == {
        "id": router.id,
        "transportIds": [],
        "rtpObserverIds": [],
        "mapProducerIdConsumerIds": {},
        "mapConsumerIdProducerId": {},
        "mapProducerIdObserverIds": {},
        "mapDataProducerIdDataConsumerIds": {},
        "mapDataConsumerIdDataProducerId": {},
    }
    assert len(worker.routers) == 1

    worker.close()
    assert router.closed is True
    assert len(worker.routers) == 0


async def test_create_router_with_unsupported_codecs_raises(worker: Worker) -> None:
    with pytest.raises(UnsupportedError):
        await worker.create_router(copy.deepcopy(UNSUPPORTED_MEDIA_CODECS))


async def test_create_router_with_media_codecs_not_a_list_raises_type_error(worker: Worker) -> None:
    with pytest.raises(TypeError):
        await worker.create_router({})  # type: ignore[arg-type]
    assert (await worker.dump())["routerIds"] == []


async def test_create_router_with_app_data_not_a_dict_raises_type_error(worker: Worker) -> None:
    with pytest.raises(TypeError):
        await worker.create_router(app_data="NOT-AN-OBJECT")  # type: ignore[arg-type]


async def test_create_router_with_wrong_arguments_creates_nothing(worker: Worker) -> None:
    with pytest.raises(TypeError):
        await worker.create_router(app_data="NOT-AN-OBJECT")  # type: ignore[arg-type]
    assert (await worker.dump())["routerIds"] == []


async def test_create_router_on_closed_worker_raises(
    worker: Worker, media_codecs: list[dict[str, Any]]
) -> None:
    worker.close()
    with pytest.raises(InvalidStateError):
        await worker.create_router(media_codecs)


async def test_rtp_capabilities_getter_returns_a_copy(router: Router) -> None:
    original = router.rtp_capabilities
    snapshot = copy.deepcopy(original)
    router.rtp_capabilities["headerExtensions"] = []
    original["codecs"].clear()
    assert router.rtp_capabilities == snapshot


async def test_update_media_codecs_succeeds(router: Router) -> None:
    assert len(router.rtp_capabilities["codecs"]) == 5
    router.update_media_codecs([])
    assert router.rtp_capabilities["codecs"] == []
    assert isinstance(router.rtp_capabilities["headerExtensions"], list)


async def test_close_succeeds(router: Router) -> None:
    on_observer_close = Recorder()
    router.observer.once("close", on_observer_close)
    router.close()
    assert on_observer_close.count == 1
    assert router.closed is True
    with pytest.raises(InvalidStateError):
        await router.dump()


async def test_workerclose_is_emitted_when_worker_closes(worker: Worker, router: Router) -> None:
    on_observer_close = Recorder()
    router.observer.once("close", on_observer_close)
    await wait_event(router, "workerclose", worker.close)
    assert on_observer_close.count == 1
    assert router.closed is True
    with pytest.raises(InvalidStateError):
        await router.dump()
