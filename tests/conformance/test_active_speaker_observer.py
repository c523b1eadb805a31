"""ActiveSpeakerObserver against the real worker: the behaviours mediasoup's
test-ActiveSpeakerObserver checks, plus the producer set and the 'dominantspeaker' event.

Calls on a closed observer raise InvalidStateError (see conftest's conventions).
"""

from __future__ import annotations

from typing import Any

import pytest

from sfuctl.server.media.active_speaker_observer import ActiveSpeakerObserver
from sfuctl.server.media.errors import InvalidStateError, NotFoundError
from sfuctl.server.media.fbs.ActiveSpeakerObserver.DominantSpeakerNotification import (
    DominantSpeakerNotificationT,
)
from sfuctl.server.media.fbs.Notification.Body import Body as NotificationBody
from sfuctl.server.media.fbs.Notification.Event import Event
from sfuctl.server.media.producer import Producer
from sfuctl.server.media.router import Router
from sfuctl.server.media.worker import Worker
from tests.conformance.conftest import Recorder, inject_notification, wait_event

OPUS_CODECS: list[dict[str, Any]] = [
    {
        "kind": "audio",
        "mimeType": "audio/opus",
        "clockRate": 48000,
        "channels": 2,
        "parameters": {"useinbandfec": 1, "foo": "bar"},
    }
]

AUDIO_RTP_PARAMETERS: dict[str, Any] = {
    "codecs": [{"mimeType": "audio/opus", "payloadType": 111, "clockRate": 48000, "channels": 2}],
    "headerExtensions": [{"uri": "urn:ietf:params:rtp-hdrext:ssrc-audio-level", "id": 10}],
    "encodings": [{"ssrc": 11111111}],
    "rtcp": {"cname": "audio-1"},
}


@pytest.fixture
def media_codecs() -> list[dict[str, Any]]:
    return OPUS_CODECS


async def audio_producer(router: Router) -> Producer:
    transport = await router.create_webrtc_transport(listen_infos=[{"protocol": "udp", "ip": "127.0.0.1"}])
    return await transport.produce("audio", AUDIO_RTP_PARAMETERS)


async def test_create_active_speaker_observer_succeeds(router: Router) -> None:
    new_rtp_observers = Recorder()
    router.observer.once("newrtpobserver", new_rtp_observers)
    observer = await router.create_active_speaker_observer()
    assert new_rtp_observers.calls == [(observer,)]
    assert isinstance(observer, ActiveSpeakerObserver)
    assert isinstance(observer.id, str)
    assert observer.closed is False
    assert observer.type == "activespeaker"
    assert observer.paused is False
    assert observer.app_data == {}
    assert (await router.dump())["rtpObserverIds"] == [observer.id]


@pytest.mark.parametrize("kwargs", [{"interval": False}, {"app_data": "NOT-AN-OBJECT"}])
async def test_create_active_speaker_observer_with_wrong_arguments_raises_type_error(
    router: Router, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(TypeError):
        await router.create_active_speaker_observer(**kwargs)


async def test_pause_and_resume_succeed(router: Router) -> None:
    observer = await router.create_active_speaker_observer()
    pauses, resumes = Recorder(), Recorder()
    observer.observer.on("pause", pauses)
    observer.observer.on("resume", resumes)
    await observer.pause()
    assert observer.paused is True
    await observer.pause()
    await observer.resume()
    assert observer.paused is False
    assert (pauses.count, resumes.count) == (1, 1)


async def test_add_producer_and_remove_producer_succeed(router: Router) -> None:
    observer = await router.create_active_speaker_observer()
    producer = await audio_producer(router)
    added, removed = Recorder(), Recorder()
    observer.observer.on("addproducer", added)
    observer.observer.on("removeproducer", removed)
    await observer.add_producer(producer.id)
    assert added.calls == [(producer,)]
    assert (await router.dump())["mapProducerIdObserverIds"] == {producer.id: [observer.id]}
    await observer.remove_producer(producer.id)
    assert removed.calls == [(producer,)]
    assert (await router.dump())["mapProducerIdObserverIds"] == {producer.id: []}


async def test_add_producer_with_unknown_id_raises_not_found(router: Router) -> None:
    observer = await router.create_active_speaker_observer()
    with pytest.raises(NotFoundError):
        await observer.add_producer("unknown")
    with pytest.raises(NotFoundError):
        await observer.remove_producer("unknown")


async def test_dominant_speaker_notification_emits_dominantspeaker(router: Router) -> None:
    observer = await router.create_active_speaker_observer()
    producer = await audio_producer(router)
    await observer.add_producer(producer.id)
    events, observer_events = Recorder(), Recorder()
    observer.on("dominantspeaker", events)
    observer.observer.on("dominantspeaker", observer_events)
    body = DominantSpeakerNotificationT()
    body.producerId = producer.id
    kind = NotificationBody.ActiveSpeakerObserver_DominantSpeakerNotification
    await inject_notification(observer, Event.ACTIVESPEAKEROBSERVER_DOMINANT_SPEAKER, kind, body)
    assert events.calls == [({"producer": producer},)]
    assert observer_events.calls == events.calls
    body.producerId = "closed-meanwhile"  # unknown producers are dropped
    await inject_notification(observer, Event.ACTIVESPEAKEROBSERVER_DOMINANT_SPEAKER, kind, body)
    assert events.count == 1


async def test_close_succeeds(router: Router) -> None:
    observer = await router.create_active_speaker_observer(interval=500)
    assert len((await router.dump())["rtpObserverIds"]) == 1
    closes = Recorder()
    observer.observer.on("close", closes)
    observer.close()
    assert observer.closed is True
    assert closes.count == 1
    assert observer.id not in router.rtp_observers
    assert len((await router.dump())["rtpObserverIds"]) == 0
    with pytest.raises(InvalidStateError):
        await observer.pause()


async def test_router_close_emits_routerclose(router: Router) -> None:
    observer = await router.create_active_speaker_observer()
    await wait_event(observer, "routerclose", router.close)
    assert observer.closed is True
    with pytest.raises(InvalidStateError):
        await observer.pause()


async def test_worker_close_emits_routerclose(router: Router, worker: Worker) -> None:
    observer = await router.create_active_speaker_observer()
    await wait_event(observer, "routerclose", worker.close)
    assert observer.closed is True
    with pytest.raises(InvalidStateError):
        await observer.pause()
