"""Port of mediasoup's test-Consumer.js to our Consumer (and Transport.consume()).

Our ``consume()`` defaults to ``paused=True``; these ports pass ``paused=False`` wherever the
mediasoup test relies on its default.

================================================================================  =====================
mediasoup case                                                                    here
================================================================================  =====================
transport.consume() succeeds                                                      ported (3 tests:
                                                                                  audio, paused video
                                                                                  with layers, pipe)
transport.consume() with unknown producerId fails                                 ported
transport.consume() with enableRtx succeeds                                       ported
transport.consume() can be created with user provided mid                         ported
transport.consume() with incompatible rtpCapabilities rejects with Unsupported..  ported, parametrized
consumer.dump() succeeds                                                          ported
consumer.getStats() succeeds                                                      ported
consumer.pause() and resume() succeed                                             ported
producer.pause() and resume() emit events                                         ported (waits for
                                                                                  the events, no
                                                                                  100 ms sleep)
consumer.setPreferredLayers() succeed                                             ported
consumer.setPreferredLayers() with wrong arguments rejects with TypeError         ported, parametrized
transport.consume() for an SVC producer honors preferredLayers                    ported
transport.consume() for a simulcast producer honors preferredLayers               ported
transport.consume() from a single-encoding no temporal layer producer is simple   ported, parametrized
transport.consume() from a single-encoding multiple temporal layer producer ...   (3 cases in one
transport.consume() from a multiple-encoding producer is of type simulcast        test)
consumer.setPriority() succeed                                                    ported
consumer.setPriority() with wrong arguments rejects with TypeError                ported, parametrized
consumer.unsetPriority() succeed                                                  ported
consumer.enableTraceEvent() succeed                                               ported
consumer.enableTraceEvent() with wrong arguments rejects with TypeError           ported, parametrized
Consumer emits "producerpause" and "producerresume"                               ported
Consumer emits "score"                                                            ported (notification
                                                                                  fed through the
                                                                                  channel's decoder)
consumer.close() succeeds                                                         ported
Consumer methods reject if closed                                                 ported
                                                                                  (InvalidStateError)
Consumer emits "producerclose" if Producer is closed                              ported
Consumer emits "transportclose" if Transport is closed                            ported
================================================================================  =====================
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from sfuctl.server.media.consumer import Consumer
from sfuctl.server.media.errors import InvalidStateError, NotFoundError, UnsupportedError
from sfuctl.server.media.fbs.Consumer.ConsumerScore import ConsumerScoreT
from sfuctl.server.media.fbs.Consumer.ScoreNotification import ScoreNotificationT
from sfuctl.server.media.fbs.Notification.Body import Body as NotificationBody
from sfuctl.server.media.fbs.Notification.Event import Event
from sfuctl.server.media.producer import Producer
from sfuctl.server.media.router import Router
from sfuctl.server.media.webrtc_transport import WebRtcTransport
from sfuctl.server.media.worker import Worker
from tests.conformance.conftest import (
    EVENT_TIMEOUT,
    UDP_LOOPBACK,
    Recorder,
    inject_notification,
    next_event,
    wait_event,
)

MEDIA_CODECS: list[dict[str, Any]] = [
    {
        "kind": "audio",
        "mimeType": "audio/opus",
        "clockRate": 48000,
        "channels": 2,
        "parameters": {"foo": "bar"},
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

AUDIO_CODEC_PARAMETERS = {"useinbandfec": 1, "usedtx": 1, "foo": 222.222, "bar": "333"}
MSID = "1111-1111-1111-1111 2222-2222-2222-2222"

AUDIO_RTP_PARAMETERS: dict[str, Any] = {
    "mid": "AUDIO",
    "codecs": [
        {
            "mimeType": "audio/opus",
            "payloadType": 111,
            "clockRate": 48000,
            "channels": 2,
            "parameters": AUDIO_CODEC_PARAMETERS,
        }
    ],
    "headerExtensions": [
        {"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": 10},
        {"uri": "urn:ietf:params:rtp-hdrext:ssrc-audio-level", "id": 12},
    ],
    "encodings": [{"ssrc": 11111111}],
    "rtcp": {"cname": "FOOBAR"},
    "msid": MSID,
}

VIDEO_RTP_PARAMETERS: dict[str, Any] = {
    "mid": "VIDEO",
    "codecs": [
        {
            "mimeType": "video/h264",
            "payloadType": 112,
            "clockRate": 90000,
            "parameters": {"packetization-mode": 1, "profile-level-id": "4d0032"},
            "rtcpFeedback": [
                {"type": "nack", "parameter": ""},
                {"type": "nack", "parameter": "pli"},
                {"type": "goog-remb", "parameter": ""},
            ],
        },
        {"mimeType": "video/rtx", "payloadType": 113, "clockRate": 90000, "parameters": {"apt": 112}},
    ],
    "headerExtensions": [
        {"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": 10},
        {"uri": "urn:3gpp:video-orientation", "id": 13},
    ],
    "encodings": [
        {"ssrc": 22222222, "scalabilityMode": "L1T5", "rtx": {"ssrc": 22222223}},
        {"ssrc": 22222224, "scalabilityMode": "L1T5", "rtx": {"ssrc": 22222225}},
        {"ssrc": 22222226, "scalabilityMode": "L1T5", "rtx": {"ssrc": 22222227}},
        {"ssrc": 22222228, "scalabilityMode": "L1T5", "rtx": {"ssrc": 22222229}},
    ],
    "rtcp": {"cname": "FOOBAR"},
}

APP_DATA = {"foo": 1, "bar": "2"}

FULL_FEEDBACK = [
    {"type": "nack", "parameter": ""},
    {"type": "nack", "parameter": "pli"},
    {"type": "ccm", "parameter": "fir"},
    {"type": "goog-remb", "parameter": ""},
]


def _ext(kind: str, uri: str, preferred_id: int) -> dict[str, Any]:
    return {"kind": kind, "uri": uri, "preferredId": preferred_id, "preferredEncrypt": False}


CONSUMER_DEVICE_CAPABILITIES: dict[str, Any] = {
    "codecs": [
        {
            "mimeType": "audio/opus",
            "kind": "audio",
            "preferredPayloadType": 100,
            "clockRate": 48000,
            "channels": 2,
            "rtcpFeedback": [{"type": "nack", "parameter": ""}],
        },
        {
            "mimeType": "video/H264",
            "kind": "video",
            "preferredPayloadType": 101,
            "clockRate": 90000,
            "parameters": {
                "level-asymmetry-allowed": 1,
                "packetization-mode": 1,
                "profile-level-id": "4d0032",
            },
            "rtcpFeedback": FULL_FEEDBACK,
        },
        {
            "mimeType": "video/rtx",
            "kind": "video",
            "preferredPayloadType": 102,
            "clockRate": 90000,
            "parameters": {"apt": 101},
            "rtcpFeedback": [],
        },
    ],
    "headerExtensions": [
        _ext("audio", "urn:ietf:params:rtp-hdrext:sdes:mid", 1),
        _ext("video", "urn:ietf:params:rtp-hdrext:sdes:mid", 1),
        _ext("video", "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id", 2),
        _ext("audio", "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time", 4),
        _ext("video", "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time", 4),
        _ext("audio", "urn:ietf:params:rtp-hdrext:ssrc-audio-level", 6),
        _ext("video", "urn:3gpp:video-orientation", 8),
        _ext("video", "urn:ietf:params:rtp-hdrext:toffset", 9),
    ],
}

VPX_MEDIA_CODECS: list[dict[str, Any]] = [
    {"kind": "video", "mimeType": "video/VP8", "clockRate": 90000, "rtcpFeedback": FULL_FEEDBACK},
    {"kind": "video", "mimeType": "video/VP9", "clockRate": 90000, "rtcpFeedback": FULL_FEEDBACK},
]

VPX_CONSUMER_DEVICE_CAPABILITIES: dict[str, Any] = {
    "codecs": [
        {
            "kind": "video",
            "mimeType": "video/VP8",
            "preferredPayloadType": 101,
            "clockRate": 90000,
            "rtcpFeedback": FULL_FEEDBACK,
        },
        {
            "kind": "video",
            "mimeType": "video/VP9",
            "preferredPayloadType": 102,
            "clockRate": 90000,
            "rtcpFeedback": FULL_FEEDBACK,
        },
    ],
    "headerExtensions": [],
}


def _vpx_rtp_parameters(mime_type: str, mid: str, encodings: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "mid": mid,
        "codecs": [
            {
                "mimeType": mime_type,
                "payloadType": 96,
                "clockRate": 90000,
                "parameters": {},
                "rtcpFeedback": FULL_FEEDBACK,
            }
        ],
        "headerExtensions": [],
        "encodings": encodings,
        "rtcp": {"cname": "FOOBAR"},
    }


VP9_SVC_RTP_PARAMETERS = _vpx_rtp_parameters(
    "video/VP9", "VIDEOSVC", [{"ssrc": 33333333, "scalabilityMode": "L3T3"}]
)
VP8_SIMULCAST_RTP_PARAMETERS = _vpx_rtp_parameters(
    "video/VP8", "VIDEOVP8", [{"ssrc": 44444441 + i, "scalabilityMode": "L1T5"} for i in range(3)]
)


@pytest.fixture
def media_codecs() -> list[dict[str, Any]]:
    return copy.deepcopy(MEDIA_CODECS)


@pytest.fixture
async def audio_producer(transport1: WebRtcTransport) -> Producer:
    return await transport1.produce("audio", copy.deepcopy(AUDIO_RTP_PARAMETERS), app_data=dict(APP_DATA))


@pytest.fixture
async def video_producer(transport1: WebRtcTransport) -> Producer:
    return await transport1.produce("video", copy.deepcopy(VIDEO_RTP_PARAMETERS), app_data=dict(APP_DATA))


ConsumeFn = Callable[..., Awaitable[Consumer]]


@pytest.fixture
def consume(transport2: WebRtcTransport) -> ConsumeFn:
    """transport2.consume() with the device capabilities and mediasoup's default paused=False."""

    async def consume(producer: Producer, **kwargs: Any) -> Consumer:
        kwargs.setdefault("paused", False)
        caps = kwargs.pop("rtp_capabilities", CONSUMER_DEVICE_CAPABILITIES)
        return await transport2.consume(producer.id, copy.deepcopy(caps), **kwargs)

    return consume


@pytest.fixture
async def vpx_transports(worker: Worker) -> tuple[WebRtcTransport, WebRtcTransport]:
    """A router with VP8 and VP9 only, and two transports on it."""
    router = await worker.create_router(copy.deepcopy(VPX_MEDIA_CODECS))
    return (
        await router.create_webrtc_transport(listen_infos=[dict(UDP_LOOPBACK)]),
        await router.create_webrtc_transport(listen_infos=[dict(UDP_LOOPBACK)]),
    )


def assert_consumer_basics(consumer: Consumer, producer: Producer, kind: str) -> None:
    assert isinstance(consumer.id, str)
    assert consumer.producer_id == producer.id
    assert consumer.closed is False
    assert consumer.kind == kind
    assert isinstance(consumer.rtp_parameters, dict)
    assert consumer.priority == 1
    assert consumer.current_layers is None


H264_CONSUMER_CODECS = [
    {
        "mimeType": "video/H264",
        "payloadType": 103,
        "clockRate": 90000,
        "parameters": {"packetization-mode": 1, "profile-level-id": "4d0032"},
        "rtcpFeedback": FULL_FEEDBACK,
    },
    {
        "mimeType": "video/rtx",
        "payloadType": 104,
        "clockRate": 90000,
        "parameters": {"apt": 103},
        "rtcpFeedback": [],
    },
]


async def test_consume_audio_succeeds(
    router: Router, transport2: WebRtcTransport, audio_producer: Producer, consume: ConsumeFn
) -> None:
    on_new_consumer = Recorder()
    transport2.observer.once("newconsumer", on_new_consumer)
    caps = copy.deepcopy(CONSUMER_DEVICE_CAPABILITIES)
    assert router.can_consume(audio_producer.id, caps) is True

    consumer = await transport2.consume(audio_producer.id, caps, paused=False, app_data={"baz": "LOL"})

    assert caps == CONSUMER_DEVICE_CAPABILITIES  # the caller's capabilities are not modified
    assert on_new_consumer.calls == [(consumer,)]
    assert_consumer_basics(consumer, audio_producer, "audio")
    assert consumer.rtp_parameters["mid"] == "0"
    assert consumer.rtp_parameters["codecs"] == [
        {
            "mimeType": "audio/opus",
            "payloadType": 100,
            "clockRate": 48000,
            "channels": 2,
            "parameters": AUDIO_CODEC_PARAMETERS,
            "rtcpFeedback": [],
        }
    ]
    assert consumer.rtp_parameters.get("msid") == MSID
    assert consumer.type == "simple"
    assert consumer.paused is False
    assert consumer.producer_paused is False
    assert consumer.score == {"score": 10, "producerScore": 0, "producerScores": [0]}
    assert consumer.preferred_layers is None
    assert consumer.app_data == {"baz": "LOL"}

    router_dump = await router.dump()
    assert router_dump["mapProducerIdConsumerIds"][audio_producer.id] == [consumer.id]
    assert router_dump["mapConsumerIdProducerId"] == {consumer.id: audio_producer.id}
    transport_dump = await transport2.dump()
    assert transport_dump["producerIds"] == []
    assert transport_dump["consumerIds"] == [consumer.id]


async def test_consume_paused_video_with_preferred_layers_succeeds(
    router: Router,
    transport2: WebRtcTransport,
    audio_producer: Producer,
    video_producer: Producer,
    consume: ConsumeFn,
) -> None:
    await consume(audio_producer)  # takes mid '0'
    on_new_consumer = Recorder()
    transport2.observer.once("newconsumer", on_new_consumer)
    assert router.can_consume(video_producer.id, copy.deepcopy(CONSUMER_DEVICE_CAPABILITIES)) is True
    await video_producer.pause()

    consumer = await consume(
        video_producer,
        paused=True,
        preferred_layers={"spatialLayer": 12, "temporalLayer": 0},
        app_data={"baz": "LOL"},
    )

    assert on_new_consumer.calls == [(consumer,)]
    assert_consumer_basics(consumer, video_producer, "video")
    assert consumer.rtp_parameters["mid"] == "1"
    assert consumer.rtp_parameters["codecs"] == H264_CONSUMER_CODECS
    assert consumer.rtp_parameters.get("msid") is None
    assert consumer.type == "simulcast"
    assert consumer.paused is True
    assert consumer.producer_paused is True
    assert consumer.score == {"score": 10, "producerScore": 0, "producerScores": [0, 0, 0, 0]}
    assert consumer.preferred_layers == {"spatialLayer": 3, "temporalLayer": 0}
    assert consumer.app_data == {"baz": "LOL"}


async def test_consume_with_pipe_succeeds(
    router: Router,
    transport2: WebRtcTransport,
    audio_producer: Producer,
    video_producer: Producer,
    consume: ConsumeFn,
) -> None:
    audio_consumer = await consume(audio_producer)
    await video_producer.pause()
    video_consumer = await consume(video_producer, paused=True)
    on_new_consumer = Recorder()
    transport2.observer.once("newconsumer", on_new_consumer)

    consumer = await consume(video_producer, pipe=True)

    assert on_new_consumer.calls == [(consumer,)]
    assert_consumer_basics(consumer, video_producer, "video")
    assert consumer.rtp_parameters.get("mid") is None
    assert consumer.rtp_parameters["codecs"] == H264_CONSUMER_CODECS
    assert consumer.type == "pipe"
    assert consumer.paused is False
    assert consumer.producer_paused is True
    assert consumer.score == {"score": 10, "producerScore": 10, "producerScores": [0, 0, 0, 0]}
    assert consumer.preferred_layers is None
    assert consumer.app_data == {}

    router_dump = await router.dump()
    assert router_dump["mapProducerIdConsumerIds"][audio_producer.id] == [audio_consumer.id]
    assert sorted(router_dump["mapProducerIdConsumerIds"][video_producer.id]) == sorted(
        [video_consumer.id, consumer.id]
    )
    assert router_dump["mapConsumerIdProducerId"] == {
        audio_consumer.id: audio_producer.id,
        video_consumer.id: video_producer.id,
        consumer.id: video_producer.id,
    }
    transport_dump = await transport2.dump()
    assert transport_dump["producerIds"] == []
    assert sorted(transport_dump["consumerIds"]) == sorted(
        [audio_consumer.id, video_consumer.id, consumer.id]
    )


async def test_consume_unknown_producer_raises(transport2: WebRtcTransport) -> None:
    with pytest.raises(NotFoundError):
        await transport2.consume("12345678", copy.deepcopy(CONSUMER_DEVICE_CAPABILITIES), paused=False)


async def test_consume_with_enable_rtx_succeeds(audio_producer: Producer, consume: ConsumeFn) -> None:
    consumer = await consume(audio_producer, enable_rtx=True)
    assert consumer.kind == "audio"
    assert consumer.rtp_parameters["codecs"] == [
        {
            "mimeType": "audio/opus",
            "payloadType": 100,
            "clockRate": 48000,
            "channels": 2,
            "parameters": AUDIO_CODEC_PARAMETERS,
            "rtcpFeedback": [{"type": "nack", "parameter": ""}],
        }
    ]


async def test_consume_with_user_provided_mid(audio_producer: Producer, consume: ConsumeFn) -> None:
    consumer1 = await consume(audio_producer)
    assert consumer1.rtp_parameters["mid"].isdigit()
    consumer2 = await consume(audio_producer, mid="custom-mid")
    assert consumer2.rtp_parameters["mid"] == "custom-mid"
    consumer3 = await consume(audio_producer)
    assert consumer3.rtp_parameters["mid"].isdigit()
    assert int(consumer1.rtp_parameters["mid"]) + 1 == int(consumer3.rtp_parameters["mid"])


@pytest.mark.parametrize(
    "caps",
    [
        pytest.param(
            {
                "codecs": [
                    {
                        "kind": "audio",
                        "mimeType": "audio/ISAC",
                        "preferredPayloadType": 100,
                        "clockRate": 32000,
                        "channels": 1,
                    }
                ],
                "headerExtensions": [],
            },
            id="ISAC-only",
        ),
        pytest.param({"codecs": [], "headerExtensions": []}, id="no-codecs"),
    ],
)
async def test_consume_with_incompatible_capabilities_raises(
    router: Router, transport2: WebRtcTransport, audio_producer: Producer, caps: dict[str, Any]
) -> None:
    assert router.can_consume(audio_producer.id, copy.deepcopy(caps)) is False
    with pytest.raises(UnsupportedError):
        await transport2.consume(audio_producer.id, copy.deepcopy(caps), paused=False)


async def test_dump_succeeds(audio_producer: Producer, video_producer: Producer, consume: ConsumeFn) -> None:
    audio = await consume(audio_producer)
    dump = await audio.dump()
    assert dump["id"] == audio.id
    assert dump["producerId"] == audio.producer_id
    assert dump["kind"] == audio.kind
    params = dump["rtpParameters"]
    assert len(params["codecs"]) == 1
    codec = params["codecs"][0]
    assert codec["mimeType"] == "audio/opus"
    assert codec["payloadType"] == 100
    assert codec["clockRate"] == 48000
    assert codec["channels"] == 2
    assert codec["parameters"] == AUDIO_CODEC_PARAMETERS
    assert codec.get("rtcpFeedback", []) == []
    assert params["headerExtensions"] == [
        {"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": 1, "encrypt": False, "parameters": {}},
        {
            "uri": "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
            "id": 4,
            "parameters": {},
            "encrypt": False,
        },
        {"uri": "urn:ietf:params:rtp-hdrext:ssrc-audio-level", "id": 6, "parameters": {}, "encrypt": False},
    ]
    assert len(params["encodings"]) == 1
    assert params["encodings"][0]["codecPayloadType"] == 100
    assert params["encodings"][0]["ssrc"] == audio.rtp_parameters["encodings"][0]["ssrc"]
    assert params.get("msid") == MSID
    assert dump["type"] == "simple"
    assert len(dump["consumableRtpEncodings"]) == 1
    assert (
        dump["consumableRtpEncodings"][0]["ssrc"]
        == audio_producer.consumable_rtp_parameters["encodings"][0]["ssrc"]
    )
    assert dump["supportedCodecPayloadTypes"] == [100]
    assert dump["paused"] is False
    assert dump["producerPaused"] is False
    assert dump["priority"] == 1

    video = await consume(video_producer, paused=True)
    dump = await video.dump()
    assert dump["id"] == video.id
    assert dump["producerId"] == video.producer_id
    assert dump["kind"] == video.kind
    params = dump["rtpParameters"]
    assert len(params["codecs"]) == 2
    h264 = params["codecs"][0]
    assert h264["mimeType"] == "video/H264"
    assert h264["payloadType"] == 103
    assert h264["clockRate"] == 90000
    assert h264.get("channels") is None
    assert h264["parameters"] == {"packetization-mode": 1, "profile-level-id": "4d0032"}
    assert h264["rtcpFeedback"] == [
        {"type": "nack"},
        {"type": "nack", "parameter": "pli"},
        {"type": "ccm", "parameter": "fir"},
        {"type": "goog-remb"},
    ]
    assert params["headerExtensions"] == [
        {"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": 1, "encrypt": False, "parameters": {}},
        {
            "uri": "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
            "id": 4,
            "parameters": {},
            "encrypt": False,
        },
        {"uri": "urn:3gpp:video-orientation", "id": 8, "parameters": {}, "encrypt": False},
        {"uri": "urn:ietf:params:rtp-hdrext:toffset", "id": 9, "parameters": {}, "encrypt": False},
    ]
    assert len(params["encodings"]) == 1
    encoding = params["encodings"][0]
    assert encoding["codecPayloadType"] == 103
    assert encoding["ssrc"] == video.rtp_parameters["encodings"][0]["ssrc"]
    assert encoding["rtx"] == {"ssrc": video.rtp_parameters["encodings"][0]["rtx"]["ssrc"]}
    assert encoding["scalabilityMode"] == "L4T5"
    assert params.get("msid") is None
    consumable = dump["consumableRtpEncodings"]
    assert len(consumable) == 4
    for got, expected in zip(consumable, video_producer.consumable_rtp_parameters["encodings"], strict=True):
        assert got["ssrc"] == expected["ssrc"]
        assert got["scalabilityMode"] == "L1T5"
    assert dump["supportedCodecPayloadTypes"] == [103]
    assert dump["paused"] is True
    assert dump["producerPaused"] is False
    assert dump["priority"] == 1


async def test_get_stats_succeeds(
    audio_producer: Producer, video_producer: Producer, consume: ConsumeFn
) -> None:
    for producer, kind, mime_type in [
        (audio_producer, "audio", "audio/opus"),
        (video_producer, "video", "video/H264"),
    ]:
        consumer = await consume(producer)
        stats = await consumer.get_stats()
        assert len(stats) == 1
        assert (
            stats[0].items()
            >= {
                "type": "outbound-rtp",
                "kind": kind,
                "mimeType": mime_type,
                "ssrc": consumer.rtp_parameters["encodings"][0]["ssrc"],
            }.items()
        )


async def test_pause_and_resume_succeed(audio_producer: Producer, consume: ConsumeFn) -> None:
    consumer = await consume(audio_producer)
    on_pause, on_resume = Recorder(), Recorder()
    consumer.observer.on("pause", on_pause)
    consumer.observer.on("resume", on_resume)

    await consumer.pause()
    assert consumer.paused is True
    await consumer.resume()
    assert consumer.paused is False

    # Not awaited one by one (tasks start, and send their requests, in this order): the observer
    # still fires whenever the state flips.
    calls = (consumer.pause, consumer.resume, consumer.pause, consumer.pause, consumer.pause, consumer.resume)
    await asyncio.gather(*(call() for call in calls))
    assert consumer.paused is False
    assert on_pause.count == 3
    assert on_resume.count == 3


async def test_pause_and_resume_are_reflected_in_dump(audio_producer: Producer, consume: ConsumeFn) -> None:
    consumer = await consume(audio_producer)
    await consumer.pause()
    assert (await consumer.dump())["paused"] is True
    await consumer.resume()
    assert (await consumer.dump())["paused"] is False


async def test_producer_pause_and_resume_emit_consumer_observer_events(
    audio_producer: Producer, consume: ConsumeFn
) -> None:
    consumer = await consume(audio_producer)
    events: list[str] = []
    consumer.observer.once("resume", lambda: events.append("resume"))
    consumer.observer.once("pause", lambda: events.append("pause"))
    resumed = next_event(consumer.observer, "resume")
    await asyncio.gather(audio_producer.pause(), audio_producer.resume())
    # The consumer learns of them through worker notifications.
    await asyncio.wait_for(resumed, EVENT_TIMEOUT)
    assert events == ["pause", "resume"]
    assert consumer.paused is False


async def test_set_preferred_layers_succeeds(
    audio_producer: Producer, video_producer: Producer, consume: ConsumeFn
) -> None:
    audio = await consume(audio_producer)
    video = await consume(video_producer)
    await audio.set_preferred_layers(1, 1)
    assert audio.preferred_layers is None
    for args, expected in [
        ((2, 3), {"spatialLayer": 2, "temporalLayer": 3}),
        ((3,), {"spatialLayer": 3, "temporalLayer": 4}),
        ((3, 0), {"spatialLayer": 3, "temporalLayer": 0}),
        ((66, 66), {"spatialLayer": 3, "temporalLayer": 4}),
    ]:
        await video.set_preferred_layers(*args)
        assert video.preferred_layers == expected, args


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        pytest.param((), {}, id="no-arguments"),
        pytest.param(({},), {}, id="a-dict"),
        pytest.param(("foo",), {}, id="a-string"),
        pytest.param((), {"temporal_layer": 2}, id="missing-spatial-layer"),
        pytest.param((None, 2), {}, id="spatial-layer-None"),
        pytest.param((1, "2"), {}, id="temporal-layer-a-string"),
    ],
)
async def test_set_preferred_layers_with_wrong_arguments_raises_type_error(
    video_producer: Producer, consume: ConsumeFn, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    consumer = await consume(video_producer)
    with pytest.raises(TypeError):
        await consumer.set_preferred_layers(*args, **kwargs)


async def test_consume_svc_producer_honors_preferred_layers(
    vpx_transports: tuple[WebRtcTransport, WebRtcTransport],
) -> None:
    transport1, transport2 = vpx_transports
    producer = await transport1.produce(
        "video", copy.deepcopy(VP9_SVC_RTP_PARAMETERS), app_data=dict(APP_DATA)
    )
    assert transport1.router.can_consume(producer.id, copy.deepcopy(VPX_CONSUMER_DEVICE_CAPABILITIES)) is True

    async def consume_with(layers: dict[str, int]) -> Consumer:
        return await transport2.consume(
            producer.id, copy.deepcopy(VPX_CONSUMER_DEVICE_CAPABILITIES), paused=True, preferred_layers=layers
        )

    consumer = await consume_with({"spatialLayer": 1, "temporalLayer": 0})
    assert consumer.type == "svc"
    assert consumer.preferred_layers == {"spatialLayer": 1, "temporalLayer": 0}
    # Out-of-range layers are clamped to the max.
    consumer = await consume_with({"spatialLayer": 9, "temporalLayer": 9})
    assert consumer.preferred_layers == {"spatialLayer": 2, "temporalLayer": 2}
    # Without a temporal layer, the max one.
    consumer = await consume_with({"spatialLayer": 1})
    assert consumer.preferred_layers == {"spatialLayer": 1, "temporalLayer": 2}


async def test_consume_simulcast_producer_honors_preferred_layers(
    vpx_transports: tuple[WebRtcTransport, WebRtcTransport],
) -> None:
    transport1, transport2 = vpx_transports
    producer = await transport1.produce(
        "video", copy.deepcopy(VP8_SIMULCAST_RTP_PARAMETERS), app_data=dict(APP_DATA)
    )
    assert transport1.router.can_consume(producer.id, copy.deepcopy(VPX_CONSUMER_DEVICE_CAPABILITIES)) is True

    async def consume_with(layers: dict[str, int]) -> Consumer:
        return await transport2.consume(
            producer.id, copy.deepcopy(VPX_CONSUMER_DEVICE_CAPABILITIES), paused=True, preferred_layers=layers
        )

    consumer = await consume_with({"spatialLayer": 1, "temporalLayer": 0})
    assert consumer.type == "simulcast"
    assert consumer.preferred_layers == {"spatialLayer": 1, "temporalLayer": 0}
    # Out-of-range spatial layer is clamped to the max (number of encodings - 1).
    consumer = await consume_with({"spatialLayer": 9, "temporalLayer": 9})
    assert consumer.preferred_layers == {"spatialLayer": 2, "temporalLayer": 4}


@pytest.mark.parametrize(
    ("encodings", "expected_type"),
    [
        pytest.param([{"ssrc": 11111111}], "simple", id="single-encoding-no-temporal-layers"),
        pytest.param(
            [{"ssrc": 55555555, "scalabilityMode": "L1T3"}], "svc", id="single-encoding-temporal-layers"
        ),
        pytest.param(
            [{"ssrc": 11111111, "scalabilityMode": "L1T3"}, {"ssrc": 22222222, "scalabilityMode": "L1T3"}],
            "simulcast",
            id="multiple-encodings",
        ),
    ],
)
async def test_consumer_type_follows_producer_encodings(
    vpx_transports: tuple[WebRtcTransport, WebRtcTransport],
    encodings: list[dict[str, Any]],
    expected_type: str,
) -> None:
    transport1, transport2 = vpx_transports
    producer = await transport1.produce(
        "video",
        {
            "codecs": [
                {
                    "mimeType": "video/VP8",
                    "payloadType": 96,
                    "clockRate": 90000,
                    "rtcpFeedback": FULL_FEEDBACK[:2],
                }
            ],
            "headerExtensions": [],
            "encodings": encodings,
            "rtcp": {"cname": "test"},
        },
    )
    assert producer.type == expected_type
    consumer = await transport2.consume(
        producer.id, copy.deepcopy(VPX_CONSUMER_DEVICE_CAPABILITIES), paused=False
    )
    assert consumer.type == expected_type


async def test_set_priority_succeeds(video_producer: Producer, consume: ConsumeFn) -> None:
    consumer = await consume(video_producer)
    await consumer.set_priority(2)
    assert consumer.priority == 2


@pytest.mark.parametrize("args", [(), (0,), ("foo",)], ids=repr)
async def test_set_priority_with_wrong_arguments_raises_type_error(
    video_producer: Producer, consume: ConsumeFn, args: tuple[Any, ...]
) -> None:
    consumer = await consume(video_producer)
    with pytest.raises(TypeError):
        await consumer.set_priority(*args)


async def test_unset_priority_succeeds(video_producer: Producer, consume: ConsumeFn) -> None:
    consumer = await consume(video_producer)
    await consumer.unset_priority()
    assert consumer.priority == 1


async def test_enable_trace_event_succeeds(audio_producer: Producer, consume: ConsumeFn) -> None:
    consumer = await consume(audio_producer)
    for types, expected in [
        (["rtp", "pli"], {"rtp", "pli"}),
        ([], set()),
        (["nack", "FOO", "fir"], {"nack", "fir"}),
        ([], set()),
    ]:
        await consumer.enable_trace_event(types)
        assert set((await consumer.dump())["traceEventTypes"]) == expected


@pytest.mark.parametrize("types", [123, "rtp", ["fir", 123.123]], ids=repr)
async def test_enable_trace_event_with_wrong_arguments_raises_type_error(
    audio_producer: Producer, consume: ConsumeFn, types: Any
) -> None:
    consumer = await consume(audio_producer)
    with pytest.raises(TypeError):
        await consumer.enable_trace_event(types)


async def test_producerpause_and_producerresume_are_emitted(
    audio_producer: Producer, consume: ConsumeFn
) -> None:
    consumer = await consume(audio_producer)
    await wait_event(consumer, "producerpause", audio_producer.pause)
    assert consumer.paused is False
    assert consumer.producer_paused is True
    await wait_event(consumer, "producerresume", audio_producer.resume)
    assert consumer.paused is False
    assert consumer.producer_paused is False


async def test_score_event_from_worker_notification(audio_producer: Producer, consume: ConsumeFn) -> None:
    consumer = await consume(audio_producer)
    on_score = Recorder()
    consumer.on("score", on_score)
    score = ConsumerScoreT()
    score.score, score.producerScore, score.producerScores = 9, 10, [8]
    body = ScoreNotificationT()
    body.score = score
    for _ in range(3):
        await inject_notification(
            consumer, Event.CONSUMER_SCORE, NotificationBody.Consumer_ScoreNotification, body
        )
    assert on_score.count == 3
    assert consumer.score == {"score": 9, "producerScore": 10, "producerScores": [8]}


async def test_close_succeeds(
    router: Router,
    transport2: WebRtcTransport,
    audio_producer: Producer,
    video_producer: Producer,
    consume: ConsumeFn,
) -> None:
    audio = await consume(audio_producer)
    video = await consume(video_producer)
    on_observer_close = Recorder()
    audio.observer.once("close", on_observer_close)
    audio.close()
    assert on_observer_close.count == 1
    assert audio.closed is True
    with pytest.raises(InvalidStateError):
        await audio.dump()
    router_dump = await router.dump()
    assert router_dump["mapProducerIdConsumerIds"] == {audio_producer.id: [], video_producer.id: [video.id]}
    assert router_dump["mapConsumerIdProducerId"] == {video.id: video_producer.id}
    transport_dump = await transport2.dump()
    assert transport_dump["producerIds"] == []
    assert transport_dump["consumerIds"] == [video.id]


async def test_methods_raise_once_closed(audio_producer: Producer, consume: ConsumeFn) -> None:
    consumer = await consume(audio_producer)
    consumer.close()
    for method in (
        consumer.dump,
        consumer.get_stats,
        consumer.pause,
        consumer.resume,
        lambda: consumer.set_priority(2),
        consumer.request_key_frame,
    ):
        with pytest.raises(InvalidStateError):
            await method()
    with pytest.raises(TypeError):
        await consumer.set_preferred_layers({})  # type: ignore[arg-type]


async def test_producerclose_is_emitted_when_producer_closes(
    audio_producer: Producer, consume: ConsumeFn
) -> None:
    consumer = await consume(audio_producer)
    on_observer_close = Recorder()
    consumer.observer.once("close", on_observer_close)
    await wait_event(consumer, "producerclose", audio_producer.close)
    assert on_observer_close.count == 1
    assert consumer.closed is True
    with pytest.raises(InvalidStateError):
        await consumer.dump()


async def test_transportclose_is_emitted_when_transport_closes(
    router: Router,
    transport2: WebRtcTransport,
    audio_producer: Producer,
    video_producer: Producer,
    consume: ConsumeFn,
) -> None:
    consumer = await consume(video_producer)
    on_observer_close = Recorder()
    consumer.observer.once("close", on_observer_close)
    await wait_event(consumer, "transportclose", transport2.close)
    assert on_observer_close.count == 1
    assert consumer.closed is True
    with pytest.raises(InvalidStateError):
        await consumer.dump()
    router_dump = await router.dump()
    assert router_dump["mapProducerIdConsumerIds"] == {audio_producer.id: [], video_producer.id: []}
    assert router_dump["mapConsumerIdProducerId"] == {}
