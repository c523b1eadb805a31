"""AudioLevelObserver against the real worker: the behaviours mediasoup's
test-AudioLevelObserver checks, plus the 'volumes' and 'silence' events.

Calls on a closed observer raise InvalidStateError (see conftest's conventions).
"""

from __future__ import annotations

from typing import Any

import pytest

from sfuctl.server.media.audio_level_observer import AudioLevelObserver
from sfuctl.server.media.errors import InvalidStateError, NotFoundError
from sfuctl.server.media.fbs.AudioLevelObserver.Volume import VolumeT
from sfuctl.server.media.fbs.AudioLevelObserver.VolumesNotification import VolumesNotificationT
from sfuctl.server.media.fbs.Notification.Body import Body as NotificationBody
from sfuctl.server.media.fbs.Notification.Event import Event
from sfuctl.server.media.router import Router
from sfuctl.server.media.worker import Worker
from tests.conformance.conftest import Recorder, inject_notification, wait_event
from tests.conformance.test_active_speaker_observer import OPUS_CODECS, audio_producer


@pytest.fixture
def media_codecs() -> list[dict[str, Any]]:
    return OPUS_CODECS


def volume(producer_id: str, level: int) -> VolumeT:
    entry = VolumeT()
    entry.producerId = producer_id
    entry.volume = level
    return entry


async def test_create_audio_level_observer_succeeds(router: Router) -> None:
    new_rtp_observers = Recorder()
    router.observer.once("newrtpobserver", new_rtp_observers)
    observer = await router.create_audio_level_observer()
    assert new_rtp_observers.calls == [(observer,)]
    assert isinstance(observer, AudioLevelObserver)
    assert isinstance(observer.id, str)
    assert observer.closed is False
    assert observer.type == "audiolevel"
    assert observer.paused is False
    assert observer.app_data == {}
    assert (await router.dump())["rtpObserverIds"] == [observer.id]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_entries": 0},
        {"max_entries": -10},
        {"threshold": "foo"},
        {"interval": False},
        {"app_data": "NOT-AN-OBJECT"},
    ],
)
async def test_create_audio_level_observer_with_wrong_arguments_raises_type_error(
    router: Router, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(TypeError):
        await router.create_audio_level_observer(**kwargs)


async def test_pause_and_resume_succeed(router: Router) -> None:
    observer = await router.create_audio_level_observer()
    pauses, resumes = Recorder(), Recorder()
    observer.observer.on("pause", pauses)
    observer.observer.on("resume", resumes)
    await observer.pause()
    assert observer.paused is True
    await observer.resume()
    assert observer.paused is False
    await observer.resume()
    assert (pauses.count, resumes.count) == (1, 1)


async def test_add_producer_and_remove_producer_succeed(router: Router) -> None:
    observer = await router.create_audio_level_observer()
    producer = await audio_producer(router)
    added, removed = Recorder(), Recorder()
    observer.observer.on("addproducer", added)
    observer.observer.on("removeproducer", removed)
    await observer.add_producer(producer.id)
    assert added.calls == [(producer,)]
    assert (await router.dump())["mapProducerIdObserverIds"] == {producer.id: [observer.id]}
    await observer.remove_producer(producer.id)
    assert removed.calls == [(producer,)]
    with pytest.raises(NotFoundError):
        await observer.add_producer("unknown")


async def test_volumes_notification_emits_known_producers(router: Router) -> None:
    observer = await router.create_audio_level_observer(max_entries=2)
    producer = await audio_producer(router)
    await observer.add_producer(producer.id)
    events, observer_events = Recorder(), Recorder()
    observer.on("volumes", events)
    observer.observer.on("volumes", observer_events)
    body = VolumesNotificationT()
    body.volumes = [volume(producer.id, -40), volume("closed-meanwhile", -50)]
    kind = NotificationBody.AudioLevelObserver_VolumesNotification
    await inject_notification(observer, Event.AUDIOLEVELOBSERVER_VOLUMES, kind, body)
    assert events.calls == [([{"producer": producer, "volume": -40}],)]
    assert observer_events.calls == events.calls
    body.volumes = [volume("closed-meanwhile", -50)]  # nothing left to report: no event
    await inject_notification(observer, Event.AUDIOLEVELOBSERVER_VOLUMES, kind, body)
    assert events.count == 1


async def test_silence_notification_emits_silence(router: Router) -> None:
    observer = await router.create_audio_level_observer()
    events, observer_events = Recorder(), Recorder()
    observer.on("silence", events)
    observer.observer.on("silence", observer_events)
    await inject_notification(observer, Event.AUDIOLEVELOBSERVER_SILENCE, 0, None)
    assert (events.count, observer_events.count) == (1, 1)


async def test_close_succeeds(router: Router) -> None:
    observer = await router.create_audio_level_observer(max_entries=8)
    assert len((await router.dump())["rtpObserverIds"]) == 1
    closes = Recorder()
    observer.observer.on("close", closes)
    observer.close()
    assert observer.closed is True
    assert closes.count == 1
    assert len((await router.dump())["rtpObserverIds"]) == 0
    with pytest.raises(InvalidStateError):
        await observer.pause()


async def test_router_close_emits_routerclose(router: Router) -> None:
    observer = await router.create_audio_level_observer()
    await wait_event(observer, "routerclose", router.close)
    assert observer.closed is True
    with pytest.raises(InvalidStateError):
        await observer.pause()


async def test_worker_close_emits_routerclose(router: Router, worker: Worker) -> None:
    observer = await router.create_audio_level_observer()
    await wait_event(observer, "routerclose", worker.close)
    assert observer.closed is True
    with pytest.raises(InvalidStateError):
        await observer.pause()
