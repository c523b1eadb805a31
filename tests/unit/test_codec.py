"""The channel codec: the native extension and the pure-Python fallback agree with each other and
with flatc's generated code, and a truncated or corrupt frame is a ValueError on both."""

from __future__ import annotations

import importlib
import logging
import random
import sys
from typing import Any

import flatbuffers
import pytest

from sfuctl.server.media import codec
from sfuctl.server.media.codec_py import PythonCodec, _load
from sfuctl.server.media.fbs.Consumer.ConsumerLayers import ConsumerLayersT
from sfuctl.server.media.fbs.Consumer.ConsumerScore import ConsumerScoreT
from sfuctl.server.media.fbs.Consumer.ScoreNotification import ScoreNotificationT
from sfuctl.server.media.fbs.Log.Log import LogT
from sfuctl.server.media.fbs.Message import Message as MessageMod
from sfuctl.server.media.fbs.Message.Body import Body as MessageBody
from sfuctl.server.media.fbs.Message.Message import Message, MessageT
from sfuctl.server.media.fbs.Notification.Body import Body as NotificationBody
from sfuctl.server.media.fbs.Notification.Event import Event
from sfuctl.server.media.fbs.Notification.Notification import NotificationT
from sfuctl.server.media.fbs.Request.Body import Body as RequestBody
from sfuctl.server.media.fbs.Request.Method import Method
from sfuctl.server.media.fbs.Response import Response as ResponseMod
from sfuctl.server.media.fbs.Response.Body import Body as ResponseBody
from sfuctl.server.media.fbs.Response.Response import ResponseT
from sfuctl.server.media.fbs.RtpParameters.Integer32Array import Integer32ArrayT
from sfuctl.server.media.fbs.RtpParameters.Parameter import ParameterT
from sfuctl.server.media.fbs.RtpParameters.RtpCodecParameters import RtpCodecParametersT
from sfuctl.server.media.fbs.RtpParameters.RtpEncodingParameters import RtpEncodingParametersT
from sfuctl.server.media.fbs.RtpParameters.RtpParameters import RtpParametersT
from sfuctl.server.media.fbs.RtpParameters.String import StringT
from sfuctl.server.media.fbs.RtpParameters.Value import Value
from sfuctl.server.media.fbs.Transport.ConsumeResponse import ConsumeResponseT
from sfuctl.server.media.fbs.Worker import DumpResponse


@pytest.fixture(scope="module")
def native() -> codec.Codec:
    """Set-up builds the extension; its absence is a failure here, not a skip."""
    return codec.native()


@pytest.fixture(scope="module")
def python() -> codec.Codec:
    return codec.python()


def consume_request(mid: str = "0") -> dict[str, Any]:
    return {
        "dataType": MessageBody.Request,
        "data": {
            "id": 4294967295,
            "method": Method.TRANSPORT_CONSUME,
            "handlerId": "transport-1",
            "bodyType": RequestBody.Transport_ConsumeRequest,
            "body": {
                "consumerId": "c-1",
                "producerId": "p-1",
                "kind": 1,
                "rtpParameters": {
                    "mid": mid,
                    "codecs": [
                        {
                            "mimeType": "video/VP8",
                            "payloadType": 101,
                            "clockRate": 90000,
                            "parameters": [
                                {
                                    "name": "x-google-start-bitrate",
                                    "valueType": Value.Integer32,
                                    "value": {"value": 1000},
                                },
                                {"name": "profile", "valueType": Value.String, "value": {"value": "é"}},
                                {
                                    "name": "list",
                                    "valueType": Value.Integer32Array,
                                    "value": {"value": [1, -2, 3]},
                                },
                                {"name": "ratio", "valueType": Value.Double, "value": {"value": 0.25}},
                            ],
                            "rtcpFeedback": [{"type": "nack"}, {"type": "nack", "parameter": "pli"}],
                        }
                    ],
                    "headerExtensions": [{"uri": 3, "id": 4, "encrypt": True, "parameters": []}],
                    "encodings": [{"ssrc": 1234, "rtx": {"ssrc": 5678}, "maxBitrate": 300000}],
                    "rtcp": {"cname": "abc", "reducedSize": True},
                },
                "type": 2,
                "consumableRtpEncodings": [{"ssrc": 111}, {"ssrc": 222, "scalabilityMode": "L1T3"}],
                "paused": True,
                "preferredLayers": {"spatialLayer": 0, "temporalLayer": 0},
                "ignoreDtx": False,
            },
        },
    }


def notification(event: int, body_type: int = 0, body: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "dataType": MessageBody.Notification,
        "data": {"handlerId": "h", "event": event, "bodyType": body_type, "body": body},
    }


REQUESTS = [
    consume_request(),
    notification(Event.TRANSPORT_SEND_RTCP, 0, None),
    {
        "dataType": MessageBody.Request,
        "data": {"id": 1, "method": Method.WORKER_DUMP, "handlerId": ""},
    },
    notification(
        Event.DATAPRODUCER_SEND,
        NotificationBody.DataProducer_SendNotification,
        {"ppid": 51, "data": b"\x00\xffbinary", "subchannels": [1, 65535], "requiredSubchannel": 0},
    ),
]


def subset(expected: Any, actual: Any) -> bool:
    """Every field given in ``expected`` decodes to the same value (bytes as lists of ints)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(subset(v, actual.get(k)) for k, v in expected.items())
    if isinstance(expected, bytes):
        return list(expected) == actual
    if isinstance(expected, list):
        return (
            isinstance(actual, list) and len(expected) == len(actual) and all(map(subset, expected, actual))
        )
    if expected is None:
        return actual is None
    return bool(expected == actual) and type(expected) is type(actual)


@pytest.mark.parametrize("message", REQUESTS, ids=range(len(REQUESTS)))
def test_both_paths_encode_the_same_fields(
    native: codec.Codec, python: codec.Codec, message: dict[str, Any]
) -> None:
    decoded = [
        reader.decode(writer.encode(message)[4:])
        for writer in (native, python)
        for reader in (native, python)
    ]
    assert all(d == decoded[0] for d in decoded)
    assert subset(message, decoded[0])


def test_size_prefix_is_the_payload_length(native: codec.Codec, python: codec.Codec) -> None:
    for c in (native, python):
        frame = c.encode(consume_request())
        assert int.from_bytes(frame[:4], "little") == len(frame) - 4


def object_api_plain(obj: Any) -> Any:
    """flatc's own unpacked object as plain data: the third opinion both codecs must match."""
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if isinstance(obj, bytes):
        return obj.decode()
    if isinstance(obj, list):
        return [object_api_plain(v) for v in obj]
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return {k: object_api_plain(v) for k, v in vars(obj).items()}


def packed(message: MessageT) -> bytes:
    builder = flatbuffers.Builder(256)
    builder.Finish(message.Pack(builder))
    return bytes(builder.Output())


def worker_messages() -> list[bytes]:
    """Answers, notifications and logs as the worker sends them, packed by flatc's Python code."""
    out = []
    response = ResponseT()
    response.id, response.accepted = 9, True
    response.bodyType = ResponseBody.Transport_ConsumeResponse
    response.body = ConsumeResponseT()
    response.body.paused = True
    response.body.score = ConsumerScoreT()
    response.body.score.score, response.body.score.producerScore = 10, 7
    response.body.score.producerScores = [7, 0, 255]
    response.body.preferredLayers = ConsumerLayersT()
    response.body.preferredLayers.spatialLayer = 2
    out.append(response)
    error = ResponseT()
    error.id, error.accepted, error.error, error.reason = 10, False, "TypeError", "bad ü"
    out.append(error)
    notification = NotificationT()
    notification.handlerId, notification.event = "consumer-1", Event.CONSUMER_SCORE
    notification.bodyType = NotificationBody.Consumer_ScoreNotification
    notification.body = ScoreNotificationT()
    notification.body.score = ConsumerScoreT()
    notification.body.score.producerScores = []
    out.append(notification)
    log = LogT()
    log.data = "Dsome debug line"
    out.append(log)
    frames = []
    kinds = [MessageBody.Response] * 2 + [MessageBody.Notification, MessageBody.Log]
    for data, kind in zip(out, kinds, strict=True):
        message = MessageT()
        message.dataType, message.data = kind, data
        frames.append(packed(message))
    return frames


def rtp_parameters_response() -> bytes:
    """A producer-dump-like payload with parameter unions of every kind, inside a Response."""
    from sfuctl.server.media.fbs.Producer.DumpResponse import DumpResponseT

    params = RtpParametersT()
    params.mid = "1"
    codec_t = RtpCodecParametersT()
    codec_t.mimeType, codec_t.payloadType, codec_t.clockRate, codec_t.channels = "audio/opus", 100, 48000, 2
    p1, p2 = ParameterT(), ParameterT()
    p1.name, p1.valueType, p1.value = "list", Value.Integer32Array, Integer32ArrayT()
    p1.value.value = [1, 2]
    p2.name, p2.valueType, p2.value = "s", Value.String, StringT()
    p2.value.value = "x"
    codec_t.parameters = [p1, p2]
    params.codecs = [codec_t]
    encoding = RtpEncodingParametersT()
    encoding.ssrc, encoding.dtx = 42, True
    params.encodings = [encoding]
    dump = DumpResponseT()
    dump.id, dump.kind, dump.type, dump.rtpParameters = "p", 0, 1, params
    dump.traceEventTypes = [0, 3]
    response = ResponseT()
    response.id, response.accepted = 3, True
    response.bodyType, response.body = ResponseBody.Producer_DumpResponse, dump
    message = MessageT()
    message.dataType, message.data = MessageBody.Response, response
    return packed(message)


@pytest.mark.parametrize("index", range(5))
def test_worker_messages_decode_as_flatc_reads_them(
    native: codec.Codec, python: codec.Codec, index: int
) -> None:
    frame = [*worker_messages(), rtp_parameters_response()][index]
    expected = object_api_plain(MessageT.InitFromObj(Message.GetRootAs(frame, 0)))
    assert native.decode(frame) == expected
    assert python.decode(frame) == expected


def test_field_names_are_the_object_apis(native: codec.Codec) -> None:
    """The camelCase keys both codecs use are exactly flatc's object-API attribute names."""
    objects, _, _ = _load(codec.schema())
    checked = 0
    for obj in objects:
        namespace, _, name = obj.name.rpartition(".")
        module = importlib.import_module(f"sfuctl.server.media.fbs.{namespace[4:]}.{name}")
        assert set(vars(getattr(module, f"{name}T")())) == obj.keys, obj.name
        checked += 1
    assert checked > 150


def all_frames() -> list[bytes]:
    native = codec.native()
    return [*worker_messages(), rtp_parameters_response(), *(native.encode(m)[4:] for m in REQUESTS)]


def test_truncated_frames_are_errors_on_both(native: codec.Codec, python: codec.Codec) -> None:
    """Up to the last 3 bytes, which may be alignment padding nothing refers to."""
    for frame in all_frames():
        for cut in range(len(frame) - 3):
            for c in (native, python):
                with pytest.raises(ValueError):
                    c.decode(frame[:cut])


def test_corrupt_frames_are_errors_or_the_same_dicts(native: codec.Codec, python: codec.Codec) -> None:
    rng = random.Random(13)
    errors = 0
    for frame in all_frames():
        for _ in range(300):
            corrupt = bytearray(frame)
            for _ in range(rng.randint(1, 4)):
                corrupt[rng.randrange(len(corrupt))] = rng.randrange(256)
            results = []
            for c in (native, python):
                try:
                    results.append(c.decode(bytes(corrupt)))
                except ValueError:
                    results.append(None)
                    errors += 1
            if results[0] is not None and results[1] is not None:
                assert results[0] == results[1]
    assert errors > 0


def test_offsets_outside_the_buffer_are_errors(native: codec.Codec, python: codec.Codec) -> None:
    for frame in (b"\xff\xff\xff\x7f" + bytes(12), b"\x04\x00\x00\x00\x00\x00\x80\x00", b"", b"\x01"):
        for c in (native, python):
            with pytest.raises(ValueError, match="invalid frame"):
                c.decode(frame)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"id": 1, "method": 0, "handlerId": "", "nope": 1}, TypeError),
        ({"id": "1", "method": 0}, TypeError),
        ({"id": -1, "method": 0}, ValueError),
        ({"id": 1, "method": 256}, ValueError),
        ({"id": 1, "method": 0, "handlerId": 5}, TypeError),
        ({"id": 1, "method": 0, "bodyType": 0, "body": {"x": 1}}, ValueError),
        ({"id": 1, "method": 0, "body": {}}, TypeError),
        ({"id": 1, "method": 0, "bodyType": RequestBody.Transport_ConsumeRequest, "body": []}, TypeError),
    ],
)
def test_bad_requests_are_the_same_error_on_both(
    native: codec.Codec, python: codec.Codec, data: dict[str, Any], error: type[Exception]
) -> None:
    for c in (native, python):
        with pytest.raises(error):
            c.encode({"dataType": MessageBody.Request, "data": data})


def test_the_env_var_selects_the_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(codec.ENV, "python")
    assert isinstance(codec.load(), PythonCodec)
    monkeypatch.setenv(codec.ENV, "native")
    assert codec.name(codec.load()) == "native"
    monkeypatch.setenv(codec.ENV, "fast")
    with pytest.raises(ValueError, match=codec.ENV):
        codec.load()


def test_shared_offsets_cannot_blow_a_frame_up(native: codec.Codec, python: codec.Codec) -> None:
    """Many vector entries pointing at one string: 100 kB that would decode to 100 MB."""

    builder = flatbuffers.Builder(1024)
    text = builder.CreateString("x" * 100_000)
    count = 1000
    builder.StartVector(4, count, 4)
    for _ in range(count):
        builder.PrependUOffsetTRelative(text)
    ids = builder.EndVector()
    DumpResponse.Start(builder)
    DumpResponse.AddRouterIds(builder, ids)
    body = DumpResponse.End(builder)
    ResponseMod.Start(builder)
    ResponseMod.AddId(builder, 1)
    ResponseMod.AddAccepted(builder, True)
    ResponseMod.AddBodyType(builder, ResponseBody.Worker_DumpResponse)
    ResponseMod.AddBody(builder, body)
    data = ResponseMod.End(builder)
    MessageMod.Start(builder)
    MessageMod.AddDataType(builder, MessageBody.Response)
    MessageMod.AddData(builder, data)
    builder.Finish(MessageMod.End(builder))
    frame = bytes(builder.Output())
    assert len(frame) < 110_000
    for c in (native, python):
        with pytest.raises(ValueError, match="more data than it holds"):
            c.decode(frame)


def test_without_the_extension_the_fallback_is_used_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(codec.ENV, raising=False)
    monkeypatch.setitem(sys.modules, "sfuctl.server.media._codec", None)  # import fails
    monkeypatch.delattr(importlib.import_module("sfuctl.server.media"), "_codec", raising=False)
    monkeypatch.setattr(codec, "_chosen", {})
    monkeypatch.setattr(codec, "_instances", {})
    with caplog.at_level(logging.WARNING, logger="sfuctl.codec"):
        chosen = [codec.name(codec.load()) for _ in range(3)]
    assert chosen == ["python"] * 3
    assert [r.getMessage()[:34] for r in caplog.records] == ["native channel codec unavailable, "]
    with pytest.raises(ImportError):
        codec.load("native")  # asked for explicitly: no silent fallback
