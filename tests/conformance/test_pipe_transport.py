"""mediasoup's test-PipeTransport behaviours, against two real workers.

24 cases in mediasoup 3.27.1; 22 apply and are ported here, the 2 on subchannels through a
DirectTransport are skipped (DirectTransport is out of sfuctl's scope). Deviations, as the rest of
the suite: a closed router or consumer fails locally with InvalidStateError (mediasoup asks the
worker and gets NotFoundError); consume() is given ``paused=False`` where mediasoup's default is
relied on; listen infos only (no deprecated ``listenIp``: its cases use the same addresses as
listen infos); SCTP options are the ``sctp_options`` dict of the other transports.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from sfuctl.server.media.data_producer import DataProducer
from sfuctl.server.media.errors import InvalidInputError, InvalidStateError, MediaError, NotFoundError
from sfuctl.server.media.pipe_transport import PipeTransport
from sfuctl.server.media.producer import Producer
from sfuctl.server.media.router import Router
from sfuctl.server.media.webrtc_transport import WebRtcTransport
from sfuctl.server.media.worker import Worker, WorkerSettings
from tests.conformance.conftest import EVENT_TIMEOUT, next_event
from tests.conftest import free_port, process_exists

MEDIA_CODECS: list[dict[str, Any]] = [
    {"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2},
    {"kind": "video", "mimeType": "video/VP8", "clockRate": 90000},
]
LOCAL: dict[str, Any] = {"protocol": "udp", "ip": "127.0.0.1"}
KEY_60 = "YTdjcDBvY2JoMGY5YXNlNDc0eDJsdGgwaWRvNnJsamRrdG16aWVpZHphdHo="

AUDIO_RTP: dict[str, Any] = {
    "mid": "AUDIO",
    "codecs": [
        {
            "mimeType": "audio/opus",
            "payloadType": 111,
            "clockRate": 48000,
            "channels": 2,
            "parameters": {"useinbandfec": 1, "foo": "bar1"},
        }
    ],
    "headerExtensions": [{"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": 10}],
    "encodings": [{"ssrc": 11111111}],
    "rtcp": {"cname": "FOOBAR"},
}
VIDEO_RTP: dict[str, Any] = {
    "mid": "VIDEO",
    "codecs": [
        {
            "mimeType": "video/VP8",
            "payloadType": 112,
            "clockRate": 90000,
            "rtcpFeedback": [
                {"type": "nack"},
                {"type": "nack", "parameter": "pli"},
                {"type": "goog-remb"},
                {"type": "lalala"},
            ],
        }
    ],
    "headerExtensions": [
        {"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": 10},
        {"uri": "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time", "id": 11},
        {"uri": "urn:3gpp:video-orientation", "id": 13},
    ],
    "encodings": [{"ssrc": 22222222}, {"ssrc": 22222223}, {"ssrc": 22222224}],
    "rtcp": {"cname": "FOOBAR"},
    "msid": "aaaa-bbbb",
}
CONSUMER_CAPS: dict[str, Any] = {
    "codecs": [
        {
            "kind": "audio",
            "mimeType": "audio/opus",
            "preferredPayloadType": 100,
            "clockRate": 48000,
            "channels": 2,
        },
        {
            "kind": "video",
            "mimeType": "video/VP8",
            "preferredPayloadType": 101,
            "clockRate": 90000,
            "rtcpFeedback": [
                {"type": "nack"},
                {"type": "ccm", "parameter": "fir"},
                {"type": "transport-cc"},
            ],
        },
        {
            "kind": "video",
            "mimeType": "video/rtx",
            "preferredPayloadType": 102,
            "clockRate": 90000,
            "parameters": {"apt": 101},
            "rtcpFeedback": [],
        },
    ],
    "headerExtensions": [
        {
            "kind": "video",
            "uri": "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
            "preferredId": 4,
            "preferredEncrypt": False,
            "direction": "sendrecv",
        },
        {
            "kind": "video",
            "uri": "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
            "preferredId": 5,
            "preferredEncrypt": False,
        },
        {
            "kind": "audio",
            "uri": "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            "preferredId": 6,
            "preferredEncrypt": False,
        },
    ],
}
DEPENDENCY_DESCRIPTOR = (
    "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension"
)


def ext(uri: str, ext_id: int) -> dict[str, Any]:
    return {"uri": uri, "id": ext_id, "encrypt": False, "parameters": {}}


AUDIO_PIPE_EXTENSIONS = [
    ext("urn:ietf:params:rtp-hdrext:ssrc-audio-level", 6),
    ext(DEPENDENCY_DESCRIPTOR, 7),
    ext("http://www.webrtc.org/experiments/rtp-hdrext/playout-delay", 11),
    ext("urn:mediasoup:params:rtp-hdrext:packet-id", 12),
]
VIDEO_PIPE_EXTENSIONS = [
    ext(DEPENDENCY_DESCRIPTOR, 7),
    ext("urn:3gpp:video-orientation", 8),
    ext("urn:ietf:params:rtp-hdrext:toffset", 9),
    ext("http://www.webrtc.org/experiments/rtp-hdrext/playout-delay", 11),
    ext("urn:mediasoup:params:rtp-hdrext:packet-id", 12),
]
AUDIO_PIPE_CODECS = [
    {
        "mimeType": "audio/opus",
        "payloadType": 100,
        "clockRate": 48000,
        "channels": 2,
        "parameters": {"useinbandfec": 1, "foo": "bar1"},
        "rtcpFeedback": [],
    }
]
VIDEO_PIPE_CODECS = [
    {
        "mimeType": "video/VP8",
        "payloadType": 101,
        "clockRate": 90000,
        "parameters": {},
        "rtcpFeedback": [{"type": "nack", "parameter": "pli"}, {"type": "ccm", "parameter": "fir"}],
    }
]
FRESH_SCORE = {"score": 10, "producerScore": 10, "producerScores": []}


@dataclass
class Ctx:
    worker1: Worker
    worker2: Worker
    router1: Router
    router2: Router
    transport1: WebRtcTransport
    transport2: WebRtcTransport
    audio_producer: Producer
    video_producer: Producer
    data_producer: DataProducer


@pytest.fixture
async def worker2() -> AsyncIterator[Worker]:
    w = await Worker.start(WorkerSettings(log_level="warn"))
    yield w
    w.close()
    await w.wait_closed()
    assert not process_exists(w.pid)


@pytest.fixture
async def ctx(worker: Worker, worker2: Worker) -> Ctx:
    router1 = await worker.create_router(copy.deepcopy(MEDIA_CODECS))
    router2 = await worker2.create_router(copy.deepcopy(MEDIA_CODECS))
    transport1 = await router1.create_webrtc_transport(listen_infos=[dict(LOCAL)], enable_sctp=True)
    transport2 = await router2.create_webrtc_transport(listen_infos=[dict(LOCAL)], enable_sctp=True)
    audio = await transport1.produce("audio", copy.deepcopy(AUDIO_RTP), app_data={"foo": "bar1"})
    video = await transport1.produce("video", copy.deepcopy(VIDEO_RTP), app_data={"foo": "bar2"})
    data = await transport1.produce_data(
        {"streamId": 666, "ordered": False, "maxPacketLifeTime": 5000}, label="foo", protocol="bar"
    )
    return Ctx(worker, worker2, router1, router2, transport1, transport2, audio, video, data)


async def wait_for(future: asyncio.Future[Any]) -> Any:
    return await asyncio.wait_for(future, EVENT_TIMEOUT)


# -- pipe_to_router with media -------------------------------------------------------------------


async def test_pipe_to_router_succeeds_with_audio(ctx: Ctx) -> None:
    result = await ctx.router1.pipe_to_router(producer_id=ctx.audio_producer.id, router=ctx.router2)
    pipe_consumer, pipe_producer = result.pipe_consumer, result.pipe_producer
    assert pipe_consumer is not None and pipe_producer is not None

    # router1: the WebRtcTransport and the pipe; router2: the WebRtcTransport and the pipe.
    assert len((await ctx.router1.dump())["transportIds"]) == 2
    assert len((await ctx.router2.dump())["transportIds"]) == 2

    assert isinstance(pipe_consumer.id, str)
    assert pipe_consumer.closed is False
    assert pipe_consumer.kind == "audio"
    assert "mid" not in pipe_consumer.rtp_parameters
    assert pipe_consumer.rtp_parameters["codecs"] == AUDIO_PIPE_CODECS
    assert pipe_consumer.rtp_parameters["headerExtensions"] == AUDIO_PIPE_EXTENSIONS
    assert pipe_consumer.type == "pipe"
    assert pipe_consumer.paused is False
    assert pipe_consumer.producer_paused is False
    assert pipe_consumer.score == FRESH_SCORE
    assert pipe_consumer.app_data == {}

    assert pipe_producer.id == ctx.audio_producer.id
    assert pipe_producer.closed is False
    assert pipe_producer.kind == "audio"
    assert "mid" not in pipe_producer.rtp_parameters
    assert pipe_producer.rtp_parameters["codecs"] == AUDIO_PIPE_CODECS
    assert pipe_producer.rtp_parameters["headerExtensions"] == AUDIO_PIPE_EXTENSIONS
    assert pipe_producer.paused is False


async def test_non_pipe_transport_count_leaves_out_pipes_as_they_come_and_go(ctx: Ctx) -> None:
    # sfuctl's own: the transport limit counts peers' transports without walking them.
    assert ctx.router1.non_pipe_transport_count == 1
    await ctx.router1.pipe_to_router(producer_id=ctx.audio_producer.id, router=ctx.router2)
    assert len(ctx.router1.transports) == 2
    assert ctx.router1.non_pipe_transport_count == 1
    assert ctx.router2.non_pipe_transport_count == 1

    pipe = next(t for t in ctx.router1.transports.values() if isinstance(t, PipeTransport))
    pipe.close()
    assert len(ctx.router1.transports) == 1
    assert ctx.router1.non_pipe_transport_count == 1
    ctx.transport1.close()
    assert ctx.router1.non_pipe_transport_count == 0


async def test_pipe_to_router_succeeds_with_video(ctx: Ctx) -> None:
    await ctx.router1.pipe_to_router(producer_id=ctx.audio_producer.id, router=ctx.router2)
    await ctx.video_producer.pause()

    result = await ctx.router1.pipe_to_router(producer_id=ctx.video_producer.id, router=ctx.router2)
    pipe_consumer, pipe_producer = result.pipe_consumer, result.pipe_producer
    assert pipe_consumer is not None and pipe_producer is not None

    # No new pipe transport: the existing pair is used.
    assert len((await ctx.router1.dump())["transportIds"]) == 2
    assert len((await ctx.router2.dump())["transportIds"]) == 2

    assert pipe_consumer.closed is False
    assert pipe_consumer.kind == "video"
    assert "mid" not in pipe_consumer.rtp_parameters
    assert pipe_consumer.rtp_parameters["codecs"] == VIDEO_PIPE_CODECS
    assert pipe_consumer.rtp_parameters["headerExtensions"] == VIDEO_PIPE_EXTENSIONS
    assert pipe_consumer.type == "pipe"
    assert pipe_consumer.paused is False
    assert pipe_consumer.producer_paused is True
    assert pipe_consumer.score == FRESH_SCORE
    assert pipe_consumer.app_data == {}

    assert pipe_producer.id == ctx.video_producer.id
    assert pipe_producer.closed is False
    assert pipe_producer.kind == "video"
    assert "mid" not in pipe_producer.rtp_parameters
    assert pipe_producer.rtp_parameters["codecs"] == VIDEO_PIPE_CODECS
    assert pipe_producer.rtp_parameters["headerExtensions"] == VIDEO_PIPE_EXTENSIONS
    assert pipe_producer.paused is True


async def test_pipe_to_router_gives_abs_capture_time_if_the_producer_has_it(ctx: Ctx) -> None:
    producer = await ctx.transport1.produce(
        "video",
        {
            "mid": "VIDEO2",
            "codecs": [{"mimeType": "video/VP8", "payloadType": 112, "clockRate": 90000}],
            "headerExtensions": [
                {"uri": "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time", "id": 12}
            ],
            "encodings": [{"ssrc": 44444444}],
            "rtcp": {"cname": "FOOBAR"},
        },
    )

    result = await ctx.router1.pipe_to_router(producer_id=producer.id, router=ctx.router2)

    assert result.pipe_consumer is not None
    assert (
        ext("http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time", 10)
        in (result.pipe_consumer.rtp_parameters["headerExtensions"])
    )


async def test_pipe_to_router_with_unknown_router_producer_or_data_producer_fails(ctx: Ctx) -> None:
    router3 = await ctx.worker1.create_router(copy.deepcopy(MEDIA_CODECS))
    router3.close()

    # mediasoup: NotFoundError from the worker; a closed router fails here, before any request.
    with pytest.raises(InvalidStateError):
        await ctx.router1.pipe_to_router(router=router3, producer_id=ctx.video_producer.id)
    with pytest.raises(NotFoundError):
        await ctx.router1.pipe_to_router(router=ctx.router2, producer_id="12345678")
    with pytest.raises(NotFoundError):
        await ctx.router1.pipe_to_router(router=ctx.router2, data_producer_id="12345678")


# -- create_pipe_transport -----------------------------------------------------------------------


async def test_create_pipe_transport_with_wrong_arguments_rejects_with_type_error(ctx: Ctx) -> None:
    with pytest.raises(TypeError):
        await ctx.router1.create_pipe_transport()
    with pytest.raises(TypeError):
        await ctx.router1.create_pipe_transport(
            listen_info={**LOCAL, "portRange": {"min": 4000, "max": 3000}}
        )
    with pytest.raises(TypeError):  # mediasoup: listenIp "123"
        await ctx.router1.create_pipe_transport(listen_info={**LOCAL, "ip": "123"})
    with pytest.raises(TypeError):  # mediasoup: listenIp ["127.0.0.1"]
        await ctx.router1.create_pipe_transport(listen_info=["127.0.0.1"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await ctx.router1.create_pipe_transport(listen_info={"protocol": "tcp", "ip": "127.0.0.1"})
    with pytest.raises(TypeError):
        await ctx.router1.create_pipe_transport(
            listen_info=dict(LOCAL),
            app_data="NOT-AN-OBJECT",  # type: ignore[arg-type]
        )


async def test_create_pipe_transport_with_enable_rtx_succeeds(ctx: Ctx) -> None:
    transport = await ctx.router1.create_pipe_transport(
        listen_info={**LOCAL, "portRange": {"min": 2000, "max": 3000}}, enable_rtx=True
    )
    assert transport.transport_type == "pipe"
    assert transport.rtx is True

    pipe_consumer = await transport.consume(ctx.video_producer.id)

    assert isinstance(pipe_consumer.id, str)
    assert pipe_consumer.closed is False
    assert pipe_consumer.kind == "video"
    assert "mid" not in pipe_consumer.rtp_parameters
    assert pipe_consumer.rtp_parameters["codecs"] == [
        {
            "mimeType": "video/VP8",
            "payloadType": 101,
            "clockRate": 90000,
            "parameters": {},
            "rtcpFeedback": [
                {"type": "nack", "parameter": ""},
                {"type": "nack", "parameter": "pli"},
                {"type": "ccm", "parameter": "fir"},
            ],
        },
        {
            "mimeType": "video/rtx",
            "payloadType": 102,
            "clockRate": 90000,
            "parameters": {"apt": 101},
            "rtcpFeedback": [],
        },
    ]
    assert pipe_consumer.rtp_parameters["headerExtensions"] == VIDEO_PIPE_EXTENSIONS
    assert pipe_consumer.type == "pipe"
    assert pipe_consumer.paused is False
    assert pipe_consumer.producer_paused is False
    assert pipe_consumer.score == FRESH_SCORE
    assert pipe_consumer.app_data == {}


async def test_pipe_transport_connect_with_valid_srtp_parameters_succeeds(ctx: Ctx) -> None:
    transport = await ctx.router1.create_pipe_transport(listen_info=dict(LOCAL), enable_srtp=True)
    assert isinstance(transport.srtp_parameters, dict)
    # The master length of AEAD_AES_256_GCM.
    assert len(transport.srtp_parameters["keyBase64"]) == 60

    await transport.connect("127.0.0.2", 9999, {"cryptoSuite": "AEAD_AES_256_GCM", "keyBase64": KEY_60})


async def test_pipe_transport_connect_with_srtp_parameters_fails_if_enable_srtp_is_unset(ctx: Ctx) -> None:
    transport = await ctx.router1.create_pipe_transport(
        listen_info={**LOCAL, "portRange": {"min": 2000, "max": 3000}}, enable_rtx=True
    )
    assert transport.srtp_parameters is None

    with pytest.raises(TypeError):
        await transport.connect("127.0.0.2", 9999, {"cryptoSuite": "AEAD_AES_256_GCM", "keyBase64": KEY_60})
    with pytest.raises(TypeError):
        await transport.connect("127.0.0.2", 9999, "invalid")  # type: ignore[arg-type]


async def test_pipe_transport_connect_with_invalid_srtp_parameters_fails(ctx: Ctx) -> None:
    transport = await ctx.router1.create_pipe_transport(listen_info=dict(LOCAL), enable_srtp=True)
    assert isinstance(transport.id, str)
    assert transport.srtp_parameters is not None
    assert len(transport.srtp_parameters["keyBase64"]) == 60

    invalid: list[Any] = [
        None,  # missing
        1,
        {"keyBase64": KEY_60},
        {"cryptoSuite": "AEAD_AES_256_GCM"},
        {"cryptoSuite": "FOO", "keyBase64": KEY_60},
        {"cryptoSuite": 123, "keyBase64": KEY_60},
        {"cryptoSuite": "AEAD_AES_256_GCM", "keyBase64": []},
    ]
    for srtp_parameters in invalid:
        with pytest.raises(TypeError):
            await transport.connect("127.0.0.2", 9999, srtp_parameters)


async def test_create_pipe_transport_with_fixed_port_succeeds(ctx: Ctx) -> None:
    port = free_port()
    transport = await ctx.router1.create_pipe_transport(listen_info={**LOCAL, "port": port})
    assert transport.tuple["localPort"] == port


# -- consuming a pipe producer -------------------------------------------------------------------


async def test_transport_consume_for_a_pipe_producer_succeeds(ctx: Ctx) -> None:
    result = await ctx.router1.pipe_to_router(producer_id=ctx.video_producer.id, router=ctx.router2)
    assert result.pipe_producer is not None

    consumer = await ctx.transport2.consume(result.pipe_producer.id, CONSUMER_CAPS, paused=False)

    assert isinstance(consumer.id, str)
    assert consumer.closed is False
    assert consumer.kind == "video"
    assert consumer.rtp_parameters["mid"] == "0"
    assert consumer.rtp_parameters["codecs"] == [
        {
            "mimeType": "video/VP8",
            "payloadType": 101,
            "clockRate": 90000,
            "parameters": {},
            "rtcpFeedback": [
                {"type": "nack", "parameter": ""},
                {"type": "ccm", "parameter": "fir"},
                {"type": "transport-cc", "parameter": ""},
            ],
        },
        {
            "mimeType": "video/rtx",
            "payloadType": 102,
            "clockRate": 90000,
            "parameters": {"apt": 101},
            "rtcpFeedback": [],
        },
    ]
    assert consumer.rtp_parameters["headerExtensions"] == [
        ext("http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time", 4),
        ext("http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01", 5),
    ]
    encodings = consumer.rtp_parameters["encodings"]
    assert len(encodings) == 1
    assert isinstance(encodings[0]["ssrc"], int)
    assert isinstance(encodings[0]["rtx"]["ssrc"], int)
    assert consumer.rtp_parameters["msid"] == "aaaa-bbbb"
    assert consumer.type == "simulcast"
    assert consumer.paused is False
    assert consumer.producer_paused is False
    assert consumer.score == {"score": 10, "producerScore": 0, "producerScores": [0, 0, 0]}
    assert consumer.app_data == {}

    # sfuctl's own: the pipe carries every encoding, so layers are chosen behind it.
    await consumer.set_preferred_layers(1, 0)
    assert consumer.preferred_layers == {"spatialLayer": 1, "temporalLayer": 0}


async def test_producer_pause_and_resume_are_transmitted_to_pipe_consumer(ctx: Ctx) -> None:
    await ctx.video_producer.pause()
    result = await ctx.router1.pipe_to_router(producer_id=ctx.video_producer.id, router=ctx.router2)
    pipe_producer = result.pipe_producer
    assert pipe_producer is not None
    consumer = await ctx.transport2.consume(pipe_producer.id, CONSUMER_CAPS, paused=False)
    assert ctx.video_producer.paused is True
    assert consumer.producer_paused is True
    assert consumer.paused is False

    resumed, pipe_resumed = (
        next_event(consumer, "producerresume"),
        next_event(pipe_producer.observer, "resume"),
    )
    await ctx.video_producer.resume()
    await wait_for(asyncio.gather(resumed, pipe_resumed))
    assert consumer.producer_paused is False
    assert consumer.paused is False
    assert pipe_producer.paused is False

    paused, pipe_paused = next_event(consumer, "producerpause"), next_event(pipe_producer.observer, "pause")
    await ctx.video_producer.pause()
    await wait_for(asyncio.gather(paused, pipe_paused))
    assert consumer.producer_paused is True
    assert consumer.paused is False
    assert pipe_producer.paused is True


async def test_producer_close_is_transmitted_to_pipe_consumer(ctx: Ctx) -> None:
    result = await ctx.router1.pipe_to_router(producer_id=ctx.video_producer.id, router=ctx.router2)
    assert result.pipe_producer is not None
    consumer = await ctx.transport2.consume(result.pipe_producer.id, CONSUMER_CAPS, paused=False)
    closed = next_event(consumer, "producerclose")

    ctx.video_producer.close()

    assert ctx.video_producer.closed is True
    if not consumer.closed:
        await wait_for(closed)
    assert consumer.closed is True
    with pytest.raises(InvalidStateError):  # mediasoup: NotFoundError from the worker
        await consumer.dump()


async def test_pipe_to_router_with_keep_id_fails_if_both_routers_belong_to_the_same_worker(ctx: Ctx) -> None:
    router1bis = await ctx.worker1.create_router(copy.deepcopy(MEDIA_CODECS))

    with pytest.raises(MediaError):
        await ctx.router1.pipe_to_router(producer_id=ctx.video_producer.id, router=router1bis, keep_id=True)


async def test_pipe_to_router_without_keep_id_succeeds_if_both_routers_belong_to_the_same_worker(
    ctx: Ctx,
) -> None:
    router1bis = await ctx.worker1.create_router(copy.deepcopy(MEDIA_CODECS))

    result = await ctx.router1.pipe_to_router(
        producer_id=ctx.video_producer.id, router=router1bis, keep_id=False
    )

    assert result.pipe_producer is not None
    assert result.pipe_producer.id != ctx.video_producer.id


# -- data ----------------------------------------------------------------------------------------


async def test_pipe_to_router_succeeds_with_data(ctx: Ctx) -> None:
    result = await ctx.router1.pipe_to_router(data_producer_id=ctx.data_producer.id, router=ctx.router2)
    pipe_data_consumer, pipe_data_producer = result.pipe_data_consumer, result.pipe_data_producer
    assert pipe_data_consumer is not None and pipe_data_producer is not None

    assert len((await ctx.router1.dump())["transportIds"]) == 2
    assert len((await ctx.router2.dump())["transportIds"]) == 2

    for piped in (pipe_data_consumer, pipe_data_producer):
        assert isinstance(piped.id, str)
        assert piped.closed is False
        assert piped.type == "sctp"
        params = piped.sctp_stream_parameters
        assert params is not None
        assert isinstance(params["streamId"], int)
        assert params["ordered"] is False
        assert params["maxPacketLifeTime"] == 5000
        assert params.get("maxRetransmits") is None
        assert piped.label == "foo"
        assert piped.protocol == "bar"
    assert pipe_data_producer.id == ctx.data_producer.id


async def test_transport_consume_data_for_a_pipe_data_producer_succeeds(ctx: Ctx) -> None:
    result = await ctx.router1.pipe_to_router(data_producer_id=ctx.data_producer.id, router=ctx.router2)
    assert result.pipe_data_producer is not None

    data_consumer = await ctx.transport2.consume_data(result.pipe_data_producer.id)

    assert isinstance(data_consumer.id, str)
    assert data_consumer.closed is False
    assert data_consumer.type == "sctp"
    params = data_consumer.sctp_stream_parameters
    assert params is not None
    assert isinstance(params["streamId"], int)
    assert params["ordered"] is False
    assert params["maxPacketLifeTime"] == 5000
    assert params.get("maxRetransmits") is None
    assert data_consumer.label == "foo"
    assert data_consumer.protocol == "bar"


@pytest.mark.skip(reason="DirectTransport is out of sfuctl's scope")
async def test_transport_consume_data_for_a_pipe_data_producer_succeeds_with_subchannels() -> None:
    """mediasoup produces through a DirectTransport and reads messages from one."""


@pytest.mark.skip(reason="DirectTransport is out of sfuctl's scope")
async def test_transport_consume_data_for_a_pipe_data_producer_succeeds_with_ignored_subchannel() -> None:
    """mediasoup produces through a DirectTransport and reads messages from one."""


async def test_data_producer_close_is_transmitted_to_pipe_data_consumer(ctx: Ctx) -> None:
    result = await ctx.router1.pipe_to_router(data_producer_id=ctx.data_producer.id, router=ctx.router2)
    assert result.pipe_data_producer is not None
    data_consumer = await ctx.transport2.consume_data(result.pipe_data_producer.id)
    closed = next_event(data_consumer, "dataproducerclose")

    ctx.data_producer.close()

    assert ctx.data_producer.closed is True
    if not data_consumer.closed:
        await wait_for(closed)
    assert data_consumer.closed is True
    with pytest.raises(InvalidStateError):  # mediasoup: NotFoundError from the worker
        await data_consumer.dump()


# -- one pair per pair of routers ----------------------------------------------------------------


async def test_pipe_to_router_called_twice_generates_a_single_pipe_transport_pair(ctx: Ctx) -> None:
    router_a = await ctx.worker1.create_router(copy.deepcopy(MEDIA_CODECS))
    router_b = await ctx.worker2.create_router(copy.deepcopy(MEDIA_CODECS))
    transport_a1 = await router_a.create_webrtc_transport(listen_infos=[dict(LOCAL)])
    transport_a2 = await router_a.create_webrtc_transport(listen_infos=[dict(LOCAL)])
    producer_a1 = await transport_a1.produce("audio", copy.deepcopy(AUDIO_RTP))
    producer_a2 = await transport_a2.produce("audio", copy.deepcopy(AUDIO_RTP))

    await asyncio.gather(
        router_a.pipe_to_router(producer_id=producer_a1.id, router=router_b),
        router_a.pipe_to_router(producer_id=producer_a2.id, router=router_b),
    )

    # routerA: two WebRtcTransports and the pipe; routerB: the pipe.
    assert len((await router_a.dump())["transportIds"]) == 3
    assert len((await router_b.dump())["transportIds"]) == 1


async def test_pipe_to_router_called_in_two_routers_towards_each_other_generates_a_single_pair(
    ctx: Ctx,
) -> None:
    router_a = await ctx.worker1.create_router(copy.deepcopy(MEDIA_CODECS))
    router_b = await ctx.worker2.create_router(copy.deepcopy(MEDIA_CODECS))
    transport_a = await router_a.create_webrtc_transport(listen_infos=[dict(LOCAL)])
    transport_b = await router_b.create_webrtc_transport(listen_infos=[dict(LOCAL)])
    producer_a = await transport_a.produce("audio", copy.deepcopy(AUDIO_RTP))
    producer_b = await transport_b.produce("audio", copy.deepcopy(AUDIO_RTP))
    pipes_a: dict[str, PipeTransport] = {}
    pipes_b: dict[str, PipeTransport] = {}

    def follow(pipes: dict[str, PipeTransport]) -> Any:
        def on_new(transport: Any) -> None:
            if isinstance(transport, PipeTransport):
                pipes[transport.id] = transport
                transport.observer.on("close", lambda: pipes.pop(transport.id, None))

        return on_new

    router_a.observer.on("newtransport", follow(pipes_a))
    router_b.observer.on("newtransport", follow(pipes_b))

    await asyncio.gather(
        router_a.pipe_to_router(producer_id=producer_a.id, router=router_b),
        router_b.pipe_to_router(producer_id=producer_b.id, router=router_a),
    )

    assert len(pipes_a) == 1
    assert len(pipes_b) == 1
    (pipe_a,) = pipes_a.values()
    (pipe_b,) = pipes_b.values()
    assert pipe_a.tuple["localPort"] == pipe_b.tuple["remotePort"]
    assert pipe_b.tuple["localPort"] == pipe_a.tuple["remotePort"]

    router_a.close()

    assert pipes_a == {}
    assert pipes_b == {}


async def test_pipe_to_router_with_neither_producer_id_nor_data_producer_id_fails(ctx: Ctx) -> None:
    router1bis = await ctx.worker1.create_router(copy.deepcopy(MEDIA_CODECS))
    with pytest.raises(InvalidInputError):
        await ctx.router1.pipe_to_router(router=router1bis)


async def test_pipe_to_router_with_both_producer_id_and_data_producer_id_fails(ctx: Ctx) -> None:
    router1bis = await ctx.worker1.create_router(copy.deepcopy(MEDIA_CODECS))
    with pytest.raises(InvalidInputError):
        await ctx.router1.pipe_to_router(producer_id="1234", data_producer_id="5678", router=router1bis)


# -- sfuctl's own: what the ported cases leave out -----------------------------------------------


async def test_pipe_transport_dump_and_stats(ctx: Ctx) -> None:
    transport = await ctx.router1.create_pipe_transport(
        listen_info=dict(LOCAL), enable_sctp=True, enable_rtx=True, enable_srtp=True, app_data={"a": 1}
    )
    assert transport.app_data == {"a": 1}
    assert transport.sctp_state == "new"
    assert transport.sctp_parameters is not None and transport.sctp_parameters["isDataChannel"] is False

    dump = await transport.dump()
    assert dump["id"] == transport.id
    assert dump["tuple"] == transport.tuple
    assert dump["rtx"] is True
    assert dump["srtpParameters"] == transport.srtp_parameters
    assert dump["producerIds"] == [] and dump["consumerIds"] == []

    (stats,) = await transport.get_stats()
    assert stats["type"] == "pipe-transport"
    assert stats["transportId"] == transport.id
    assert stats["tuple"]["localPort"] == transport.tuple["localPort"]
    assert stats["sctpState"] == "new"

    transport.close()
    assert transport.sctp_state == "closed"
    with pytest.raises(InvalidStateError):
        await transport.dump()


async def test_closing_one_end_of_a_pipe_closes_the_other_and_what_it_carried(ctx: Ctx) -> None:
    result = await ctx.router1.pipe_to_router(producer_id=ctx.video_producer.id, router=ctx.router2)
    data = await ctx.router1.pipe_to_router(data_producer_id=ctx.data_producer.id, router=ctx.router2)
    assert result.pipe_consumer is not None and result.pipe_producer is not None
    assert data.pipe_data_producer is not None
    consumer = await ctx.transport2.consume(result.pipe_producer.id, CONSUMER_CAPS, paused=False)
    closed = next_event(consumer, "producerclose")
    (near,) = ctx.router1.pipe_transport_pairs().values()
    (far,) = ctx.router2.pipe_transport_pairs().values()

    near.close()

    assert far.closed
    assert result.pipe_producer.closed and result.pipe_consumer.closed
    assert data.pipe_data_producer.closed
    assert ctx.video_producer.id not in ctx.router2.producers
    assert ctx.data_producer.id not in ctx.router2.data_producers
    await wait_for(closed)
    assert (await ctx.router1.dump())["transportIds"] == [ctx.transport1.id]
    assert (await ctx.router2.dump())["transportIds"] == [ctx.transport2.id]
    assert ctx.router1.pipe_transport_pairs() == {} and ctx.router2.pipe_transport_pairs() == {}

    # A new pipe_to_router makes a new pair.
    again = await ctx.router1.pipe_to_router(producer_id=ctx.video_producer.id, router=ctx.router2)
    assert again.pipe_producer is not None and not again.pipe_producer.closed
    assert len((await ctx.router2.dump())["transportIds"]) == 2


async def test_pipe_to_router_after_the_other_worker_died_fails_and_leaves_nothing(ctx: Ctx) -> None:
    await ctx.router1.pipe_to_router(producer_id=ctx.audio_producer.id, router=ctx.router2)
    ctx.worker2.close()
    await ctx.worker2.wait_closed()

    assert ctx.router2.closed
    assert ctx.router1.pipe_transport_pairs() == {}
    assert (await ctx.router1.dump())["transportIds"] == [ctx.transport1.id]
    with pytest.raises(InvalidStateError):
        await ctx.router1.pipe_to_router(producer_id=ctx.video_producer.id, router=ctx.router2)
