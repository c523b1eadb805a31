"""Port of mediasoup's test-Producer.js to our Producer (and Transport.produce()).

================================================================================  =====================
mediasoup case                                                                    here
================================================================================  =====================
webRtcTransport1.produce() succeeds                                               ported
webRtcTransport2.produce() succeeds                                               ported
webRtcTransport1.produce() without header extensions and rtcp succeeds            ported
webRtcTransport1.produce() with wrong arguments rejects with TypeError            ported, parametrized
webRtcTransport1.produce() with unsupported codecs rejects with UnsupportedError  ported, parametrized
transport.produce() with already used MID or SSRC rejects with Error              ported, parametrized
transport.produce() with no MID and with single encoding without RID or SSRC ...  ported
transport.produce() with single encoding and no temporal layers is of type simple ported (parametrized
transport.produce() with single encoding and temporal layers is of type svc       with the next two)
transport.produce() with multiple encodings is of type simulcast                  ported
producer.dump() succeeds                                                          ported
producer.getStats() succeeds                                                      ported
producer.pause() and resume() succeed                                             ported
producer.pause() and resume() emit events                                         ported
producer.enableTraceEvent() succeed                                               ported
producer.enableTraceEvent() with wrong arguments rejects with TypeError           ported, parametrized
Producer emits "score"                                                            ported (notification
                                                                                  fed through the
                                                                                  channel's decoder)
producer.close() succeeds                                                         ported
Producer methods reject if closed                                                 ported
                                                                                  (InvalidStateError)
Producer emits "transportclose" if Transport is closed                            ported
================================================================================  =====================
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from sfuctl.server.media.errors import InvalidStateError, MediaError, UnsupportedError
from sfuctl.server.media.fbs.Notification.Body import Body as NotificationBody
from sfuctl.server.media.fbs.Notification.Event import Event
from sfuctl.server.media.fbs.Producer.Score import ScoreT
from sfuctl.server.media.fbs.Producer.ScoreNotification import ScoreNotificationT
from sfuctl.server.media.producer import Producer
from sfuctl.server.media.router import Router
from sfuctl.server.media.webrtc_transport import WebRtcTransport
from tests.conformance.conftest import Recorder, inject_notification, wait_event

MEDIA_CODECS: list[dict[str, Any]] = [
    {
        "kind": "audio",
        "mimeType": "audio/opus",
        "clockRate": 48000,
        "channels": 2,
        "parameters": {"foo": "111"},
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
        "rtcpFeedback": [],  # ignored
    },
]

AUDIO_RTP_PARAMETERS: dict[str, Any] = {
    "mid": "AUDIO",
    "codecs": [
        {
            "mimeType": "audio/opus",
            "payloadType": 0,
            "clockRate": 48000,
            "channels": 2,
            "parameters": {"useinbandfec": 1, "usedtx": 1, "foo": 222.222, "bar": "333"},
        }
    ],
    "headerExtensions": [
        {"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": 10},
        {"uri": "urn:ietf:params:rtp-hdrext:ssrc-audio-level", "id": 12},
    ],
    # Missing encodings on purpose.
    "rtcp": {"cname": "audio-1"},
}

VIDEO_RTP_PARAMETERS: dict[str, Any] = {
    "mid": "VIDEO",
    "codecs": [
        {
            "mimeType": "video/h264",
            "payloadType": 112,
            "clockRate": 90000,
            "parameters": {"packetization-mode": 1, "profile-level-id": "4d0032"},
            "rtcpFeedback": [{"type": "nack"}, {"type": "nack", "parameter": "pli"}, {"type": "goog-remb"}],
        },
        {"mimeType": "video/rtx", "payloadType": 113, "clockRate": 90000, "parameters": {"apt": 112}},
    ],
    "headerExtensions": [
        {"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": 10},
        {"uri": "urn:3gpp:video-orientation", "id": 13},
    ],
    "encodings": [
        {"ssrc": 22222222, "rtx": {"ssrc": 22222223}, "scalabilityMode": "L1T3"},
        {"ssrc": 22222224, "rtx": {"ssrc": 22222225}},
        {"ssrc": 22222226, "rtx": {"ssrc": 22222227}},
        {"ssrc": 22222228, "rtx": {"ssrc": 22222229}},
    ],
    "rtcp": {"cname": "video-1"},
}

APP_DATA = {"foo": 1, "bar": "2"}

H264_WITH_RTX = [
    {
        "mimeType": "video/h264",
        "payloadType": 112,
        "clockRate": 90000,
        "parameters": {"packetization-mode": 1, "profile-level-id": "4d0032"},
    },
    {"mimeType": "video/rtx", "payloadType": 113, "clockRate": 90000, "parameters": {"apt": 112}},
]


@pytest.fixture
def media_codecs() -> list[dict[str, Any]]:
    return copy.deepcopy(MEDIA_CODECS)


async def produce_audio(transport: WebRtcTransport) -> Producer:
    return await transport.produce("audio", copy.deepcopy(AUDIO_RTP_PARAMETERS), app_data=dict(APP_DATA))


async def produce_video(transport: WebRtcTransport) -> Producer:
    return await transport.produce("video", copy.deepcopy(VIDEO_RTP_PARAMETERS), app_data=dict(APP_DATA))


def assert_new_producer(producer: Producer, kind: str, producer_type: str) -> None:
    assert isinstance(producer.id, str)
    assert producer.closed is False
    assert producer.kind == kind
    assert isinstance(producer.rtp_parameters, dict)
    assert producer.type == producer_type
    assert isinstance(producer.consumable_rtp_parameters, dict)
    assert producer.paused is False
    assert producer.score == []
    assert producer.app_data == APP_DATA


async def test_produce_audio_succeeds(router: Router, transport1: WebRtcTransport) -> None:
    on_new_producer = Recorder()
    transport1.observer.once("newproducer", on_new_producer)
    rtp_parameters = copy.deepcopy(AUDIO_RTP_PARAMETERS)

    producer = await transport1.produce("audio", rtp_parameters, app_data=dict(APP_DATA))

    assert rtp_parameters == AUDIO_RTP_PARAMETERS  # the caller's parameters are not modified
    assert on_new_producer.calls == [(producer,)]
    assert_new_producer(producer, "audio", "simple")
    router_dump = await router.dump()
    assert router_dump["mapProducerIdConsumerIds"] == {producer.id: []}
    assert router_dump["mapConsumerIdProducerId"] == {}
    transport_dump = await transport1.dump()
    assert transport_dump["id"] == transport1.id
    assert transport_dump["producerIds"] == [producer.id]
    assert transport_dump["consumerIds"] == []


async def test_produce_video_succeeds(router: Router, transport2: WebRtcTransport) -> None:
    on_new_producer = Recorder()
    transport2.observer.once("newproducer", on_new_producer)

    producer = await produce_video(transport2)

    assert on_new_producer.calls == [(producer,)]
    assert_new_producer(producer, "video", "simulcast")
    router_dump = await router.dump()
    assert router_dump["mapProducerIdConsumerIds"][producer.id] == []
    assert router_dump["mapConsumerIdProducerId"] == {}
    transport_dump = await transport2.dump()
    assert transport_dump["producerIds"] == [producer.id]
    assert transport_dump["consumerIds"] == []


async def test_produce_without_header_extensions_and_rtcp_succeeds(transport1: WebRtcTransport) -> None:
    on_new_producer = Recorder()
    transport1.observer.once("newproducer", on_new_producer)
    rtp_parameters = {"mid": "AUDIO2", "codecs": copy.deepcopy(AUDIO_RTP_PARAMETERS["codecs"])}

    producer = await transport1.produce("audio", rtp_parameters, app_data=dict(APP_DATA))

    assert on_new_producer.calls == [(producer,)]
    assert_new_producer(producer, "audio", "simple")
    producer.close()


@pytest.mark.parametrize(
    ("kind", "rtp_parameters"),
    [
        pytest.param("chicken", {}, id="bad-kind"),
        pytest.param("audio", {}, id="empty-rtp-parameters"),
        pytest.param(
            "audio",
            {
                "codecs": [],
                "headerExtensions": [],
                "encodings": [{"ssrc": "1111"}],
                "rtcp": {"cname": "qwerty"},
            },
            id="ssrc-not-a-number",
        ),
        pytest.param(
            "video",
            {"codecs": H264_WITH_RTX, "headerExtensions": [], "encodings": [], "rtcp": {"cname": "qwerty"}},
            id="empty-encodings",
        ),
        pytest.param(
            "audio",
            {
                "codecs": [H264_WITH_RTX[0], {**H264_WITH_RTX[1], "parameters": {"apt": 111}}],
                "headerExtensions": [],
                "encodings": [{"ssrc": 6666, "rtx": {"ssrc": 6667}}],
                "rtcp": {"cname": "video-1"},
            },
            id="wrong-rtx-apt",
        ),
    ],
)
async def test_produce_with_wrong_arguments_raises_type_error(
    transport1: WebRtcTransport, kind: str, rtp_parameters: dict[str, Any]
) -> None:
    with pytest.raises(TypeError):
        await transport1.produce(kind, copy.deepcopy(rtp_parameters))
    assert transport1.producers == {}


@pytest.mark.parametrize(
    ("kind", "rtp_parameters"),
    [
        pytest.param(
            "audio",
            {
                "codecs": [{"mimeType": "audio/ISAC", "payloadType": 108, "clockRate": 32000}],
                "headerExtensions": [],
                "encodings": [{"ssrc": 1111}],
                "rtcp": {"cname": "audio"},
            },
            id="ISAC",
        ),
        pytest.param(
            "video",
            {
                "codecs": [
                    {
                        **H264_WITH_RTX[0],
                        "parameters": {"packetization-mode": 1, "profile-level-id": "CHICKEN"},
                    },
                    H264_WITH_RTX[1],
                ],
                "headerExtensions": [],
                "encodings": [{"ssrc": 6666, "rtx": {"ssrc": 6667}}],
            },
            id="bad-h264-profile-level-id",
        ),
    ],
)
async def test_produce_with_unsupported_codecs_raises(
    transport1: WebRtcTransport, kind: str, rtp_parameters: dict[str, Any]
) -> None:
    with pytest.raises(UnsupportedError):
        await transport1.produce(kind, copy.deepcopy(rtp_parameters))


@pytest.mark.parametrize(
    ("kind", "rtp_parameters"),
    [
        pytest.param(
            "audio",
            {
                "mid": "AUDIO",
                "codecs": [{"mimeType": "audio/opus", "payloadType": 0, "clockRate": 48000, "channels": 2}],
                "encodings": [{"ssrc": 33333333}],
            },
            id="audio",
        ),
        pytest.param(
            "video",
            {
                "mid": "VIDEO2",
                "codecs": [H264_WITH_RTX[0]],
                "headerExtensions": [{"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": 10}],
                "encodings": [{"ssrc": 22222222}],
                "rtcp": {"cname": "video-1"},
            },
            id="video",
        ),
    ],
)
async def test_produce_with_already_used_mid_or_ssrc_raises(
    transport1: WebRtcTransport, kind: str, rtp_parameters: dict[str, Any]
) -> None:
    await transport1.produce(kind, copy.deepcopy(rtp_parameters))
    with pytest.raises(MediaError):
        await transport1.produce(kind, copy.deepcopy(rtp_parameters))
    assert len(transport1.producers) == 1


async def test_produce_without_mid_and_single_encoding_without_rid_or_ssrc_raises(
    transport1: WebRtcTransport,
) -> None:
    with pytest.raises(MediaError):
        await transport1.produce(
            "audio",
            {
                "codecs": [{"mimeType": "audio/opus", "payloadType": 111, "clockRate": 48000, "channels": 2}],
                "encodings": [{}],
            },
        )


@pytest.mark.parametrize(
    ("encodings", "producer_type"),
    [
        pytest.param([{"ssrc": 11111111}], "simple", id="single-encoding-no-temporal-layers"),
        pytest.param(
            [{"ssrc": 11111111, "scalabilityMode": "L1T3"}], "svc", id="single-encoding-temporal-layers"
        ),
        pytest.param(
            [{"ssrc": 11111111, "scalabilityMode": "L1T3"}, {"ssrc": 22222222, "scalabilityMode": "L1T3"}],
            "simulcast",
            id="multiple-encodings",
        ),
    ],
)
async def test_producer_type_follows_encodings(
    transport1: WebRtcTransport, encodings: list[dict[str, Any]], producer_type: str
) -> None:
    producer = await transport1.produce(
        "video",
        {
            "codecs": [{"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000}],
            "encodings": encodings,
            "rtcp": {"cname": "test"},
        },
    )
    assert producer.type == producer_type


async def test_dump_succeeds(transport1: WebRtcTransport, transport2: WebRtcTransport) -> None:
    audio = await produce_audio(transport1)
    dump = await audio.dump()
    assert dump["id"] == audio.id
    assert dump["kind"] == audio.kind
    params = dump["rtpParameters"]
    assert len(params["codecs"]) == 1
    codec = params["codecs"][0]
    assert codec["mimeType"] == "audio/opus"
    assert codec["payloadType"] == 0
    assert codec["clockRate"] == 48000
    assert codec["channels"] == 2
    assert codec["parameters"] == {"useinbandfec": 1, "usedtx": 1, "foo": 222.222, "bar": "333"}
    assert codec.get("rtcpFeedback", []) == []
    assert params["headerExtensions"] == [
        {"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": 10, "parameters": {}, "encrypt": False},
        {"uri": "urn:ietf:params:rtp-hdrext:ssrc-audio-level", "id": 12, "parameters": {}, "encrypt": False},
    ]
    assert len(params["encodings"]) == 1
    assert params["encodings"][0]["codecPayloadType"] == 0
    assert dump["type"] == "simple"

    video = await produce_video(transport2)
    dump = await video.dump()
    assert dump["id"] == video.id
    assert dump["kind"] == video.kind
    params = dump["rtpParameters"]
    assert len(params["codecs"]) == 2
    h264, rtx = params["codecs"]
    assert h264["mimeType"] == "video/H264"
    assert h264["payloadType"] == 112
    assert h264["clockRate"] == 90000
    assert h264.get("channels") is None
    assert h264["parameters"] == {"packetization-mode": 1, "profile-level-id": "4d0032"}
    assert h264["rtcpFeedback"] == [
        {"type": "nack"},
        {"type": "nack", "parameter": "pli"},
        {"type": "goog-remb"},
    ]
    assert rtx["mimeType"] == "video/rtx"
    assert rtx["payloadType"] == 113
    assert rtx["clockRate"] == 90000
    assert rtx.get("channels") is None
    assert rtx["parameters"] == {"apt": 112}
    assert rtx.get("rtcpFeedback", []) == []
    assert params["headerExtensions"] == [
        {"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": 10, "parameters": {}, "encrypt": False},
        {"uri": "urn:3gpp:video-orientation", "id": 13, "parameters": {}, "encrypt": False},
    ]
    expected_encodings: list[dict[str, Any]] = [
        {"codecPayloadType": 112, "ssrc": 22222222, "rtx": {"ssrc": 22222223}, "scalabilityMode": "L1T3"},
        {"codecPayloadType": 112, "ssrc": 22222224, "rtx": {"ssrc": 22222225}},
        {"codecPayloadType": 112, "ssrc": 22222226, "rtx": {"ssrc": 22222227}},
        {"codecPayloadType": 112, "ssrc": 22222228, "rtx": {"ssrc": 22222229}},
    ]
    assert len(params["encodings"]) == 4
    for encoding, expected in zip(params["encodings"], expected_encodings, strict=True):
        assert encoding.items() >= expected.items()
    assert dump["type"] == "simulcast"


async def test_get_stats_succeeds(transport1: WebRtcTransport, transport2: WebRtcTransport) -> None:
    audio = await produce_audio(transport1)
    video = await produce_video(transport2)
    assert await audio.get_stats() == []
    assert await video.get_stats() == []


async def test_pause_and_resume_succeed(transport1: WebRtcTransport) -> None:
    producer = await produce_audio(transport1)
    on_pause, on_resume = Recorder(), Recorder()
    producer.observer.on("pause", on_pause)
    producer.observer.on("resume", on_resume)

    await producer.pause()
    assert producer.paused is True
    await producer.resume()
    assert producer.paused is False

    # Not awaited one by one (tasks start, and send their requests, in this order): the observer
    # still fires whenever the state flips.
    calls = (producer.pause, producer.resume, producer.pause, producer.pause, producer.pause, producer.resume)
    await asyncio.gather(*(call() for call in calls))
    assert producer.paused is False
    assert on_pause.count == 3
    assert on_resume.count == 3


async def test_pause_and_resume_are_reflected_in_dump(transport1: WebRtcTransport) -> None:
    producer = await produce_audio(transport1)
    await producer.pause()
    assert (await producer.dump())["paused"] is True
    await producer.resume()
    assert (await producer.dump())["paused"] is False


async def test_pause_and_resume_emit_events_in_order(transport1: WebRtcTransport) -> None:
    producer = await produce_audio(transport1)
    events: list[str] = []
    producer.observer.once("resume", lambda: events.append("resume"))
    producer.observer.once("pause", lambda: events.append("pause"))
    await asyncio.gather(producer.pause(), producer.resume())
    assert events == ["pause", "resume"]
    assert producer.paused is False


async def test_enable_trace_event_succeeds(transport1: WebRtcTransport) -> None:
    producer = await produce_audio(transport1)
    for types, expected in [
        (["rtp", "pli"], {"rtp", "pli"}),
        ([], set()),
        (["nack", "FOO", "fir"], {"nack", "fir"}),
        ([], set()),
    ]:
        await producer.enable_trace_event(types)
        assert set((await producer.dump())["traceEventTypes"]) == expected


@pytest.mark.parametrize("types", [123, "rtp", ["fir", 123.123]], ids=repr)
async def test_enable_trace_event_with_wrong_arguments_raises_type_error(
    transport1: WebRtcTransport, types: Any
) -> None:
    producer = await produce_audio(transport1)
    with pytest.raises(TypeError):
        await producer.enable_trace_event(types)


async def test_score_event_from_worker_notification(transport2: WebRtcTransport) -> None:
    producer = await produce_video(transport2)
    on_score = Recorder()
    producer.on("score", on_score)
    scores = []
    for encoding_idx, ssrc, score in [(0, 11, 10), (1, 22, 9)]:
        item = ScoreT()
        item.encodingIdx, item.ssrc, item.score = encoding_idx, ssrc, score
        scores.append(item)
    body = ScoreNotificationT()
    body.scores = scores
    for _ in range(3):
        await inject_notification(
            producer, Event.PRODUCER_SCORE, NotificationBody.Producer_ScoreNotification, body
        )
    assert on_score.count == 3
    # mediasoup's expectation has rid: undefined; ours may carry rid None.
    assert [{k: v for k, v in s.items() if v is not None} for s in producer.score] == [
        {"ssrc": 11, "score": 10, "encodingIdx": 0},
        {"ssrc": 22, "score": 9, "encodingIdx": 1},
    ]


async def test_close_succeeds(router: Router, transport1: WebRtcTransport) -> None:
    producer = await produce_audio(transport1)
    on_observer_close = Recorder()
    producer.observer.once("close", on_observer_close)
    producer.close()
    assert on_observer_close.count == 1
    assert producer.closed is True
    with pytest.raises(InvalidStateError):
        await producer.dump()
    router_dump = await router.dump()
    assert router_dump["mapProducerIdConsumerIds"] == {}
    assert router_dump["mapConsumerIdProducerId"] == {}
    transport_dump = await transport1.dump()
    assert transport_dump["producerIds"] == []
    assert transport_dump["consumerIds"] == []


async def test_methods_raise_once_closed(transport1: WebRtcTransport) -> None:
    producer = await produce_audio(transport1)
    producer.close()
    for method in (producer.dump, producer.get_stats, producer.pause, producer.resume):
        with pytest.raises(InvalidStateError):
            await method()


async def test_transportclose_is_emitted_when_transport_closes(transport2: WebRtcTransport) -> None:
    producer = await produce_video(transport2)
    on_observer_close = Recorder()
    producer.observer.once("close", on_observer_close)
    await wait_event(producer, "transportclose", transport2.close)
    assert on_observer_close.count == 1
    assert producer.closed is True
    with pytest.raises(InvalidStateError):
        await producer.dump()
