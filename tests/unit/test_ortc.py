"""ORTC negotiation: mediasoup's own test-ortc cases plus tables over what ortc handles."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from sfuctl.server.media import ortc
from sfuctl.server.media.errors import UnsupportedError
from sfuctl.server.media.rtp_types import RouterRtpCodecCapability, RtpCapabilities, RtpParameters
from sfuctl.server.media.supported_rtp_capabilities import (
    URI_ABS_CAPTURE_TIME,
    URI_ABS_SEND_TIME,
    URI_DEPENDENCY_DESCRIPTOR,
    URI_MID,
    URI_TRANSPORT_WIDE_CC,
    supported_rtp_capabilities,
)

VIDEO_FEEDBACK = [
    {"type": "nack", "parameter": ""},
    {"type": "nack", "parameter": "pli"},
    {"type": "ccm", "parameter": "fir"},
    {"type": "goog-remb", "parameter": ""},
    {"type": "transport-cc", "parameter": ""},
]

OPUS: dict[str, Any] = {"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2}
VP8: dict[str, Any] = {"kind": "video", "mimeType": "video/VP8", "clockRate": 90000}


def h264(**parameters: Any) -> dict[str, Any]:
    return {"kind": "video", "mimeType": "video/H264", "clockRate": 90000, "parameters": parameters}


def vp9(**parameters: Any) -> dict[str, Any]:
    return {"kind": "video", "mimeType": "video/VP9", "clockRate": 90000, "parameters": parameters}


def router_caps(*media_codecs: dict[str, Any]) -> RtpCapabilities:
    return ortc.generate_router_rtp_capabilities([codec_cap(c) for c in media_codecs])


def codec_cap(codec: dict[str, Any]) -> RouterRtpCodecCapability:
    return copy.deepcopy(codec)  # type: ignore[return-value]


def producer_params(*codecs: dict[str, Any], **extra: Any) -> RtpParameters:
    """Validated producer parameters from (codec, payload type)-style dicts."""
    return ortc.validate_and_normalize_rtp_parameters({"codecs": list(codecs), **extra})


def pt_codec(mime_type: str, payload_type: int, clock_rate: int = 90000, **rest: Any) -> dict[str, Any]:
    return {"mimeType": mime_type, "payloadType": payload_type, "clockRate": clock_rate, **rest}


def rtx(payload_type: int, apt: int) -> dict[str, Any]:
    return pt_codec("video/rtx", payload_type, parameters={"apt": apt})


# --- mediasoup's test-ortc cases ---------------------------------------------


def test_generate_router_rtp_capabilities_succeeds() -> None:
    media_codecs = [
        {**OPUS, "parameters": {"useinbandfec": 1, "foo": "bar"}},
        {**VP8, "preferredPayloadType": 125},
        {
            **h264(**{"level-asymmetry-allowed": 1, "profile-level-id": "42e01f", "foo": "bar"}),
            "rtcpFeedback": [],  # ignored: the supported table's feedback wins
        },
    ]

    caps = ortc.generate_router_rtp_capabilities([codec_cap(c) for c in media_codecs])

    assert caps["codecs"] == [
        {
            "kind": "audio",
            "mimeType": "audio/opus",
            "preferredPayloadType": 100,
            "clockRate": 48000,
            "channels": 2,
            "parameters": {"useinbandfec": 1, "foo": "bar"},
            "rtcpFeedback": [
                {"type": "nack", "parameter": ""},
                {"type": "transport-cc", "parameter": ""},
            ],
        },
        {
            "kind": "video",
            "mimeType": "video/VP8",
            "preferredPayloadType": 125,
            "clockRate": 90000,
            "parameters": {},
            "rtcpFeedback": VIDEO_FEEDBACK,
        },
        {
            "kind": "video",
            "mimeType": "video/rtx",
            "preferredPayloadType": 101,
            "clockRate": 90000,
            "parameters": {"apt": 125},
            "rtcpFeedback": [],
        },
        {
            "kind": "video",
            "mimeType": "video/H264",
            "preferredPayloadType": 102,
            "clockRate": 90000,
            # No packetization-mode was given and none is added (0 is its default).
            "parameters": {"level-asymmetry-allowed": 1, "profile-level-id": "42e01f", "foo": "bar"},
            "rtcpFeedback": VIDEO_FEEDBACK,
        },
        {
            "kind": "video",
            "mimeType": "video/rtx",
            "preferredPayloadType": 103,
            "clockRate": 90000,
            "parameters": {"apt": 102},
            "rtcpFeedback": [],
        },
    ]


@pytest.mark.parametrize(
    "media_codec",
    [
        {"kind": "audio", "mimeType": "audio/chicken", "clockRate": 8000, "channels": 4},
        {**OPUS, "channels": 1},
    ],
    ids=["unknown-codec", "opus-mono"],
)
def test_generate_router_rtp_capabilities_unsupported_codec(media_codec: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedError, match="media codec not supported"):
        router_caps(media_codec)


def test_generate_router_rtp_capabilities_too_many_codecs() -> None:
    with pytest.raises(UnsupportedError, match="cannot allocate"):
        router_caps(*[OPUS] * 100)


def test_full_producer_to_consumer_negotiation() -> None:
    caps = router_caps(
        OPUS,
        h264(
            **{
                "level-asymmetry-allowed": 1,
                "packetization-mode": 1,
                "profile-level-id": "4d0032",
                "bar": "lalala",
            }
        ),
    )
    params = producer_params(
        pt_codec(
            "video/H264",
            111,
            parameters={"foo": 1234, "packetization-mode": 1, "profile-level-id": "4d0032"},
            rtcpFeedback=[
                {"type": "nack", "parameter": ""},
                {"type": "nack", "parameter": "pli"},
                {"type": "goog-remb", "parameter": ""},
            ],
        ),
        rtx(112, 111),
        headerExtensions=[
            {"uri": URI_MID, "id": 1},
            {"uri": "urn:3gpp:video-orientation", "id": 2},
        ],
        encodings=[
            {"ssrc": 11111111, "rtx": {"ssrc": 11111112}, "maxBitrate": 111111, "scalabilityMode": "L1T3"},
            {"ssrc": 21111111, "rtx": {"ssrc": 21111112}, "maxBitrate": 222222, "scalabilityMode": "L1T3"},
            {"rid": "high", "maxBitrate": 333333, "scalabilityMode": "L1T3"},
        ],
        rtcp={"cname": "qwerty1234"},
    )

    mapping = ortc.get_producer_rtp_parameters_mapping(params, caps)

    assert mapping["codecs"] == [
        {"payloadType": 111, "mappedPayloadType": 101},
        {"payloadType": 112, "mappedPayloadType": 102},
    ]
    first, second, third = mapping["encodings"]
    assert (first.get("ssrc"), first.get("rid")) == (11111111, None)
    assert (second.get("ssrc"), second.get("rid")) == (21111111, None)
    assert (third.get("ssrc"), third.get("rid")) == (None, "high")
    assert all(isinstance(e["mappedSsrc"], int) for e in mapping["encodings"])

    consumable = ortc.get_consumable_rtp_parameters("video", params, caps, mapping)

    media, rtx_codec = consumable["codecs"]
    assert (media["mimeType"], media["payloadType"], media["clockRate"]) == ("video/H264", 101, 90000)
    assert media.get("parameters") == {"foo": 1234, "packetization-mode": 1, "profile-level-id": "4d0032"}
    assert (rtx_codec["mimeType"], rtx_codec["payloadType"], rtx_codec["clockRate"]) == (
        "video/rtx",
        102,
        90000,
    )
    assert rtx_codec.get("parameters") == {"apt": 101}
    assert consumable.get("encodings") == [
        {"ssrc": m["mappedSsrc"], "maxBitrate": bitrate, "scalabilityMode": "L1T3", "dtx": False}
        for m, bitrate in zip(mapping["encodings"], (111111, 222222, 333333), strict=True)
    ]
    assert consumable.get("rtcp") == {"cname": "qwerty1234", "reducedSize": True}

    remote_caps: dict[str, Any] = {
        "codecs": [
            {**OPUS, "preferredPayloadType": 100, "parameters": {}, "rtcpFeedback": []},
            {
                **h264(**{"packetization-mode": 1, "profile-level-id": "4d0032", "baz": "LOLOLO"}),
                "preferredPayloadType": 101,
                "rtcpFeedback": [
                    {"type": "nack", "parameter": ""},
                    {"type": "nack", "parameter": "pli"},
                    {"type": "foo", "parameter": "FOO"},
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
            header_ext("audio", URI_MID, 1),
            header_ext("video", URI_MID, 1),
            header_ext("video", "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id", 2),
            header_ext("audio", "urn:ietf:params:rtp-hdrext:ssrc-audio-level", 6),
            header_ext("video", "urn:3gpp:video-orientation", 8),
            header_ext("video", "urn:ietf:params:rtp-hdrext:toffset", 9),
        ],
    }

    consumer = ortc.get_consumer_rtp_parameters(consumable, as_caps(remote_caps), pipe=False, enable_rtx=True)

    assert consumer["codecs"] == [
        {
            "mimeType": "video/H264",
            "payloadType": 101,
            "clockRate": 90000,
            "parameters": {"foo": 1234, "packetization-mode": 1, "profile-level-id": "4d0032"},
            "rtcpFeedback": [
                {"type": "nack", "parameter": ""},
                {"type": "nack", "parameter": "pli"},
                {"type": "foo", "parameter": "FOO"},
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
    [encoding] = consumer.get("encodings", [])
    assert isinstance(encoding.get("ssrc"), int)
    assert isinstance(encoding.get("rtx", {}).get("ssrc"), int)
    assert encoding.get("scalabilityMode") == "L3T3"
    assert encoding.get("maxBitrate") == 333333
    assert consumer.get("headerExtensions") == [
        {"uri": URI_MID, "id": 1, "encrypt": False, "parameters": {}},
        {"uri": "urn:3gpp:video-orientation", "id": 8, "encrypt": False, "parameters": {}},
        {"uri": "urn:ietf:params:rtp-hdrext:toffset", "id": 9, "encrypt": False, "parameters": {}},
    ]
    assert consumer.get("rtcp") == {"cname": "qwerty1234", "reducedSize": True}

    pipe_consumer = ortc.get_pipe_consumer_rtp_parameters(consumable, enable_rtx=False)

    assert pipe_consumer["codecs"] == [
        {
            "mimeType": "video/H264",
            "payloadType": 101,
            "clockRate": 90000,
            "parameters": {"foo": 1234, "packetization-mode": 1, "profile-level-id": "4d0032"},
            "rtcpFeedback": [
                {"type": "nack", "parameter": "pli"},
                {"type": "ccm", "parameter": "fir"},
            ],
        }
    ]
    pipe_encodings = pipe_consumer.get("encodings", [])
    assert len(pipe_encodings) == 3
    for pipe_encoding in pipe_encodings:
        assert isinstance(pipe_encoding.get("ssrc"), int)
        assert "rtx" not in pipe_encoding
        assert isinstance(pipe_encoding.get("maxBitrate"), int)
        assert pipe_encoding.get("scalabilityMode") == "L1T3"
    assert pipe_consumer.get("rtcp") == {"cname": "qwerty1234", "reducedSize": True}


def test_producer_mapping_with_codec_the_router_lacks_is_unsupported() -> None:
    caps = router_caps(OPUS, h264(**{"packetization-mode": 1, "profile-level-id": "640032"}))
    params = producer_params(
        pt_codec(
            "video/VP8",
            120,
            rtcpFeedback=[{"type": "nack", "parameter": ""}, {"type": "nack", "parameter": "fir"}],
        ),
        encodings=[{"ssrc": 11111111}],
        rtcp={"cname": "qwerty1234"},
    )
    with pytest.raises(UnsupportedError, match="unsupported codec"):
        ortc.get_producer_rtp_parameters_mapping(params, caps)


def header_ext(kind: str, uri: str, preferred_id: int, direction: str = "sendrecv") -> dict[str, Any]:
    return {
        "kind": kind,
        "uri": uri,
        "preferredId": preferred_id,
        "preferredEncrypt": False,
        "direction": direction,
    }


def as_caps(caps: dict[str, Any]) -> RtpCapabilities:
    return caps  # type: ignore[return-value]


# --- validation: RTP capabilities ---------------------------------------------

GOOD_CODEC: dict[str, Any] = {"mimeType": "audio/opus", "clockRate": 48000}
GOOD_EXT: dict[str, Any] = {"kind": "audio", "uri": URI_MID, "preferredId": 1}


@pytest.mark.parametrize(
    ("caps", "message"),
    [
        ("caps", "caps is not an object"),
        (None, "caps is not an object"),
        ({"codecs": "opus"}, "caps.codecs is not an array"),
        ({"codecs": [1]}, "codec is not an object"),
        ({"codecs": [{"clockRate": 48000}]}, "missing codec.mimeType"),
        ({"codecs": [{**GOOD_CODEC, "mimeType": ""}]}, "missing codec.mimeType"),
        ({"codecs": [{**GOOD_CODEC, "mimeType": "opus"}]}, "invalid codec.mimeType"),
        ({"codecs": [{**GOOD_CODEC, "mimeType": "text/plain"}]}, "invalid codec.mimeType"),
        ({"codecs": [{**GOOD_CODEC, "mimeType": "audio/"}]}, "invalid codec.mimeType"),
        ({"codecs": [{**GOOD_CODEC, "preferredPayloadType": "100"}]}, "invalid codec.preferredPayloadType"),
        ({"codecs": [{"mimeType": "audio/opus"}]}, "missing codec.clockRate"),
        ({"codecs": [{**GOOD_CODEC, "clockRate": "48000"}]}, "missing codec.clockRate"),
        ({"codecs": [{**GOOD_CODEC, "clockRate": True}]}, "missing codec.clockRate"),
        ({"codecs": [{**GOOD_CODEC, "parameters": {"x": [1]}}]}, "invalid codec parameter"),
        ({"codecs": [{**GOOD_CODEC, "parameters": {"x": True}}]}, "invalid codec parameter"),
        ({"codecs": [{**GOOD_CODEC, "parameters": {"apt": "96"}}]}, "invalid codec apt parameter"),
        ({"codecs": [{**GOOD_CODEC, "parameters": {"apt": None}}]}, "invalid codec apt parameter"),
        ({"codecs": [{**GOOD_CODEC, "rtcpFeedback": ["nack"]}]}, "fb is not an object"),
        ({"codecs": [{**GOOD_CODEC, "rtcpFeedback": [{"parameter": "pli"}]}]}, "missing fb.type"),
        ({"codecs": [{**GOOD_CODEC, "rtcpFeedback": [{"type": ""}]}]}, "missing fb.type"),
        ({"headerExtensions": {}}, "caps.headerExtensions is not an array"),
        ({"headerExtensions": ["mid"]}, "ext is not an object"),
        ({"headerExtensions": [{**GOOD_EXT, "kind": "data"}]}, "invalid ext.kind"),
        ({"headerExtensions": [{"uri": URI_MID, "preferredId": 1}]}, "invalid ext.kind"),
        ({"headerExtensions": [{**GOOD_EXT, "uri": ""}]}, "missing ext.uri"),
        ({"headerExtensions": [{**GOOD_EXT, "preferredId": "1"}]}, "missing ext.preferredId"),
        ({"headerExtensions": [{**GOOD_EXT, "preferredEncrypt": "no"}]}, "invalid ext.preferredEncrypt"),
        ({"headerExtensions": [{**GOOD_EXT, "direction": 1}]}, "invalid ext.direction"),
    ],
)
def test_invalid_rtp_capabilities_raise_type_error(caps: object, message: str) -> None:
    with pytest.raises(TypeError, match=re.escape(message)):
        ortc.validate_and_normalize_rtp_capabilities(caps)


def test_rtp_capabilities_are_normalized_into_a_copy() -> None:
    caps: dict[str, Any] = {
        "codecs": [
            {"kind": "video", "mimeType": "AUDIO/opus", "clockRate": 48000, "parameters": {"x": None}},
            {
                "mimeType": "video/VP8",
                "clockRate": 90000,
                "channels": 2,
                "parameters": "junk",
                "rtcpFeedback": [{"type": "nack"}, {"type": "nack", "parameter": 5}],
            },
        ],
        "headerExtensions": [{"kind": "video", "uri": URI_MID, "preferredId": 1}],
    }
    original = copy.deepcopy(caps)

    result = ortc.validate_and_normalize_rtp_capabilities(caps)

    assert caps == original
    assert result == {
        "codecs": [
            {
                "kind": "audio",
                "mimeType": "AUDIO/opus",
                "clockRate": 48000,
                "channels": 1,
                "parameters": {"x": ""},
                "rtcpFeedback": [],
            },
            {
                "kind": "video",
                "mimeType": "video/VP8",
                "clockRate": 90000,
                "parameters": {},
                "rtcpFeedback": [{"type": "nack", "parameter": ""}, {"type": "nack", "parameter": ""}],
            },
        ],
        "headerExtensions": [
            {
                "kind": "video",
                "uri": URI_MID,
                "preferredId": 1,
                "preferredEncrypt": False,
                "direction": "sendrecv",
            }
        ],
    }


@pytest.mark.parametrize("caps", [{}, {"codecs": None, "headerExtensions": None}])
def test_missing_capability_lists_become_empty(caps: dict[str, Any]) -> None:
    assert ortc.validate_and_normalize_rtp_capabilities(caps) == {"codecs": [], "headerExtensions": []}


# --- validation: RTP parameters -----------------------------------------------

GOOD_PT_CODEC: dict[str, Any] = {"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000}


def with_codec(**codec: Any) -> dict[str, Any]:
    return {"codecs": [{**GOOD_PT_CODEC, **codec}]}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ([], "params is not an object"),
        ({**with_codec(), "mid": 1}, "params.mid is not a string"),
        ({}, "missing params.codecs"),
        ({"codecs": {}}, "missing params.codecs"),
        ({"codecs": ["vp8"]}, "codec is not an object"),
        ({"codecs": [{"payloadType": 96, "clockRate": 90000}]}, "missing codec.mimeType"),
        ({"codecs": [{**GOOD_PT_CODEC, "mimeType": "vp8"}]}, "invalid codec.mimeType"),
        ({"codecs": [{"mimeType": "video/VP8", "clockRate": 90000}]}, "missing codec.payloadType"),
        (with_codec(payloadType="96"), "missing codec.payloadType"),
        (with_codec(clockRate=None), "missing codec.clockRate"),
        (with_codec(parameters={"foo": {}}), "invalid codec parameter"),
        (with_codec(mimeType="video/rtx", parameters={"apt": "96"}), "invalid codec apt parameter"),
        (with_codec(rtcpFeedback=[{}]), "missing fb.type"),
        ({**with_codec(), "headerExtensions": "mid"}, "params.headerExtensions is not an array"),
        ({**with_codec(), "headerExtensions": [1]}, "ext is not an object"),
        ({**with_codec(), "headerExtensions": [{"id": 1}]}, "missing ext.uri"),
        ({**with_codec(), "headerExtensions": [{"uri": URI_MID}]}, "missing ext.id"),
        (
            {**with_codec(), "headerExtensions": [{"uri": URI_MID, "id": 1, "encrypt": 1}]},
            "invalid ext.encrypt",
        ),
        (
            {**with_codec(), "headerExtensions": [{"uri": URI_MID, "id": 1, "parameters": {"a": []}}]},
            "invalid header extension parameter",
        ),
        ({**with_codec(), "encodings": {}}, "params.encodings is not an array"),
        ({**with_codec(), "encodings": [1]}, "encoding is not an object"),
        ({**with_codec(), "encodings": [{"ssrc": "1"}]}, "invalid encoding.ssrc"),
        ({**with_codec(), "encodings": [{"ssrc": 1.5}]}, "invalid encoding.ssrc"),
        ({**with_codec(), "encodings": [{"rid": 1}]}, "invalid encoding.rid"),
        ({**with_codec(), "encodings": [{"rtx": 1}]}, "invalid encoding.rtx"),
        ({**with_codec(), "encodings": [{"rtx": {}}]}, "missing encoding.rtx.ssrc"),
        ({**with_codec(), "encodings": [{"scalabilityMode": 3}]}, "invalid encoding.scalabilityMode"),
        ({**with_codec(), "encodings": [{"maxBitrate": "1M"}]}, "invalid encoding.maxBitrate"),
        ({**with_codec(), "encodings": [{"codecPayloadType": "96"}]}, "invalid encoding.codecPayloadType"),
        ({**with_codec(), "rtcp": "x"}, "params.rtcp is not an object"),
        ({**with_codec(), "rtcp": {"cname": 1}}, "invalid rtcp.cname"),
        ({**with_codec(), "msid": 1}, "params.msid is not a string"),
    ],
)
def test_invalid_rtp_parameters_raise_type_error(params: object, message: str) -> None:
    with pytest.raises(TypeError, match=re.escape(message)):
        ortc.validate_and_normalize_rtp_parameters(params)


def test_rtp_parameters_are_normalized_into_a_copy() -> None:
    params: dict[str, Any] = {
        "mid": None,
        "codecs": [
            {"mimeType": "audio/opus", "payloadType": 111, "clockRate": 48000, "channels": 2},
            {"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000, "channels": 1},
        ],
        "headerExtensions": [{"uri": URI_MID, "id": 1, "parameters": {"x": None}}],
        "encodings": [{"ssrc": None, "rid": "h", "dtx": "yes"}, {"ssrc": 0, "dtx": True}],
        "rtcp": {"cname": "c", "reducedSize": False},
    }
    original = copy.deepcopy(params)

    result = ortc.validate_and_normalize_rtp_parameters(params)

    assert params == original
    assert result == {
        "codecs": [
            {
                "mimeType": "audio/opus",
                "payloadType": 111,
                "clockRate": 48000,
                "channels": 2,
                "parameters": {},
                "rtcpFeedback": [],
            },
            {
                "mimeType": "video/VP8",
                "payloadType": 96,
                "clockRate": 90000,
                "parameters": {},
                "rtcpFeedback": [],
            },
        ],
        "headerExtensions": [{"uri": URI_MID, "id": 1, "encrypt": False, "parameters": {"x": ""}}],
        "encodings": [{"rid": "h", "dtx": False}, {"ssrc": 0, "dtx": True}],
        # mediasoup only does reduced-size RTCP.
        "rtcp": {"cname": "c", "reducedSize": True},
    }


def test_minimal_rtp_parameters_get_empty_defaults() -> None:
    result = ortc.validate_and_normalize_rtp_parameters({"codecs": []})
    assert dict(result) == {
        "codecs": [],
        "headerExtensions": [],
        "encodings": [],
        "rtcp": {"reducedSize": True},
    }


# --- validation: SCTP -----------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"streamId": 1}, {"streamId": 1, "ordered": True}),
        ({"streamId": 1, "ordered": False}, {"streamId": 1, "ordered": False}),
        ({"streamId": 1, "ordered": "yes"}, {"streamId": 1, "ordered": True}),
        ({"streamId": 1, "maxRetransmits": 3}, {"streamId": 1, "maxRetransmits": 3, "ordered": False}),
        (
            {"streamId": 1, "maxPacketLifeTime": 500},
            {"streamId": 1, "maxPacketLifeTime": 500, "ordered": False},
        ),
        (
            {"streamId": 1, "ordered": False, "maxRetransmits": 3},
            {"streamId": 1, "ordered": False, "maxRetransmits": 3},
        ),
        # Zero counts as unset, as in mediasoup and mediasoup-client.
        (
            {"streamId": 1, "ordered": True, "maxRetransmits": 0},
            {"streamId": 1, "ordered": True, "maxRetransmits": 0},
        ),
        (
            {"streamId": 1, "maxPacketLifeTime": 0, "maxRetransmits": 2},
            {"streamId": 1, "maxPacketLifeTime": 0, "maxRetransmits": 2, "ordered": False},
        ),
        ({"streamId": 1, "maxRetransmits": None}, {"streamId": 1, "ordered": True}),
    ],
)
def test_sctp_stream_parameters_normalization(params: dict[str, Any], expected: dict[str, Any]) -> None:
    original = copy.deepcopy(params)
    assert ortc.validate_and_normalize_sctp_stream_parameters(params) == expected
    assert params == original


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (1, "params is not an object"),
        ({}, "missing params.streamId"),
        ({"streamId": "1"}, "missing params.streamId"),
        ({"streamId": 1, "maxPacketLifeTime": "1"}, "invalid params.maxPacketLifeTime"),
        ({"streamId": 1, "maxRetransmits": True}, "invalid params.maxRetransmits"),
        ({"streamId": 1, "maxPacketLifeTime": 1, "maxRetransmits": 1}, "cannot provide both"),
        ({"streamId": 1, "ordered": True, "maxRetransmits": 1}, "cannot be ordered"),
        ({"streamId": 1, "ordered": True, "maxPacketLifeTime": 1}, "cannot be ordered"),
    ],
)
def test_invalid_sctp_stream_parameters(params: object, message: str) -> None:
    with pytest.raises(TypeError, match=re.escape(message)):
        ortc.validate_and_normalize_sctp_stream_parameters(params)


def test_sctp_capabilities_validation() -> None:
    caps = {"numStreams": {"OS": 1024, "MIS": 1024}}
    assert ortc.validate_and_normalize_sctp_capabilities(caps) == caps
    for bad, message in [
        ([], "caps is not an object"),
        ({}, "missing caps.numStreams"),
        ({"numStreams": {"OS": 1024}}, "missing numStreams.MIS"),
        ({"numStreams": {"OS": "1024", "MIS": 1}}, "missing numStreams.OS"),
    ]:
        with pytest.raises(TypeError, match=re.escape(message)):
            ortc.validate_and_normalize_sctp_capabilities(bad)


def test_sctp_parameters_validation() -> None:
    params = {"port": 5000, "OS": 1024, "MIS": 1024, "maxMessageSize": 262144, "isDataChannel": True}
    assert ortc.validate_and_normalize_sctp_parameters(params) == params
    for bad, message in [
        ("x", "params is not an object"),
        ({**params, "port": None}, "missing params.port"),
        ({**params, "maxMessageSize": 1.5}, "missing params.maxMessageSize"),
        ({**params, "sendBufferSize": "1"}, "invalid params.sendBufferSize"),
        ({**params, "isDataChannel": 1}, "invalid params.isDataChannel"),
    ]:
        with pytest.raises(TypeError, match=re.escape(message)):
            ortc.validate_and_normalize_sctp_parameters(bad)


# --- router capabilities -----------------------------------------------------------


def payload_types(caps: RtpCapabilities) -> list[tuple[str, int, object]]:
    return [
        (c["mimeType"], c["preferredPayloadType"], c.get("parameters", {}).get("apt"))
        for c in caps.get("codecs", [])
    ]


PCMU: dict[str, Any] = {"kind": "audio", "mimeType": "audio/PCMU", "clockRate": 8000}
PCMA: dict[str, Any] = {"kind": "audio", "mimeType": "audio/PCMA", "clockRate": 8000}


@pytest.mark.parametrize(
    ("media_codecs", "expected"),
    [
        ([], []),
        ([PCMU], [("audio/PCMU", 0, None)]),
        (
            [OPUS, PCMA, VP8],
            [
                ("audio/opus", 100, None),
                ("audio/PCMA", 8, None),
                ("video/VP8", 101, None),
                ("video/rtx", 102, 101),
            ],
        ),
        (
            [{**VP8, "preferredPayloadType": 100}, OPUS],
            [("video/VP8", 100, None), ("video/rtx", 101, 100), ("audio/opus", 102, None)],
        ),
        ([{**OPUS, "preferredPayloadType": 96}], [("audio/opus", 96, None)]),
        ([{**PCMU, "preferredPayloadType": 98}], [("audio/PCMU", 98, None)]),
        (
            [{**OPUS, "preferredPayloadType": 0}, VP8],
            [("audio/opus", 0, None), ("video/VP8", 100, None), ("video/rtx", 101, 100)],
        ),
        (
            [{**OPUS, "preferredPayloadType": 101}, VP8, h264()],
            [
                ("audio/opus", 101, None),
                ("video/VP8", 100, None),
                ("video/rtx", 102, 100),
                ("video/H264", 103, None),
                ("video/rtx", 104, 103),
            ],
        ),
        (
            [{**OPUS, "channels": 2}] * 28 + [VP8],
            [("audio/opus", pt, None) for pt in range(100, 128)]
            + [("video/VP8", 96, None), ("video/rtx", 97, 96)],
        ),
    ],
    ids=[
        "none",
        "static-pt",
        "dynamic-in-order",
        "requested-pt-reserved",
        "requested-low-dynamic",
        "static-overridden",
        "requested-zero",
        "requested-pt-skipped-later",
        "wraps-to-96",
    ],
)
def test_router_payload_type_assignment(
    media_codecs: list[dict[str, Any]], expected: list[tuple[str, int, object]]
) -> None:
    assert payload_types(router_caps(*media_codecs)) == expected


@pytest.mark.parametrize(
    "media_codecs",
    [
        [{**OPUS, "preferredPayloadType": 100}, {**VP8, "preferredPayloadType": 100}],
        [OPUS, {**VP8, "preferredPayloadType": 100}],
        [VP8, {**OPUS, "preferredPayloadType": 101}],  # 101 went to VP8's RTX
        [PCMU, PCMU],
    ],
)
def test_duplicated_router_payload_type_raises_type_error(media_codecs: list[dict[str, Any]]) -> None:
    with pytest.raises(TypeError, match=re.escape("duplicated codec.preferredPayloadType")):
        router_caps(*media_codecs)


@pytest.mark.parametrize(
    "media_codec",
    [
        {"kind": "audio", "clockRate": 48000},
        {**OPUS, "clockRate": "48000"},
        {**OPUS, "preferredPayloadType": "100"},
    ],
)
def test_invalid_router_media_codec_raises_type_error(media_codec: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        router_caps(media_codec)


def test_router_media_codecs_must_be_a_list() -> None:
    with pytest.raises(TypeError, match="mediaCodecs must be a list"):
        ortc.generate_router_rtp_capabilities("opus")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("media_codec", "supported"),
    [
        (
            {
                **OPUS,
                "channels": 6,
                "mimeType": "audio/multiopus",
                "parameters": {"num_streams": 4, "coupled_streams": 2},
            },
            True,
        ),
        (
            {
                **OPUS,
                "channels": 4,
                "mimeType": "audio/multiopus",
                "parameters": {"num_streams": 2, "coupled_streams": 2},
            },
            True,
        ),
        (
            {
                **OPUS,
                "channels": 6,
                "mimeType": "audio/multiopus",
                "parameters": {"num_streams": 3, "coupled_streams": 2},
            },
            False,
        ),
        ({**OPUS, "channels": 6, "mimeType": "audio/multiopus"}, False),
        ({**OPUS, "mimeType": "AUDIO/OPUS"}, True),
        ({**OPUS, "clockRate": 44100}, False),
        ({**PCMU, "channels": 1}, True),
        ({**PCMU, "channels": 2}, False),
        ({"kind": "audio", "mimeType": "audio/SILK", "clockRate": 12000}, True),
        ({"kind": "audio", "mimeType": "audio/telephone-event", "clockRate": 48000}, True),
        ({"kind": "video", "mimeType": "video/AV1", "clockRate": 90000}, True),
        ({"kind": "video", "mimeType": "video/H265", "clockRate": 90000}, False),
        # Router codecs match loosely: H264/VP9 profiles are not compared here.
        (h264(**{"packetization-mode": 1, "profile-level-id": "f4001f"}), True),
        (vp9(**{"profile-id": 2}), True),
    ],
)
def test_router_media_codec_matching(media_codec: dict[str, Any], supported: bool) -> None:
    if supported:
        assert router_caps(media_codec)["codecs"][0]["mimeType"] == supported_mime(media_codec)
    else:
        with pytest.raises(UnsupportedError):
            router_caps(media_codec)


def supported_mime(media_codec: dict[str, Any]) -> str:
    """The table's spelling of the codec's mime type, which the router adopts."""
    return next(
        c["mimeType"]
        for c in supported_rtp_capabilities().get("codecs", [])
        if c["mimeType"].lower() == media_codec["mimeType"].lower()
    )


def test_router_codec_takes_kind_from_mime_type_and_merges_parameters() -> None:
    media_codec = {
        "kind": "audio",
        "mimeType": "video/H264",
        "clockRate": 90000,
        "parameters": {"packetization-mode": 1, "level-asymmetry-allowed": 0},
    }
    original = copy.deepcopy(media_codec)

    codec = router_caps(media_codec)["codecs"][0]

    assert media_codec == original
    assert codec["kind"] == "video"
    assert codec.get("parameters") == {"packetization-mode": 1, "level-asymmetry-allowed": 0}


def test_router_offers_every_supported_header_extension_normalized() -> None:
    caps = router_caps(OPUS)
    expected = ortc.validate_and_normalize_rtp_capabilities(supported_rtp_capabilities())
    assert caps.get("headerExtensions") == expected.get("headerExtensions")
    assert len(caps.get("headerExtensions", [])) == 18


def test_router_capabilities_do_not_alias_the_supported_table() -> None:
    first = router_caps(OPUS, VP8)
    first["codecs"][0]["rtcpFeedback"].clear()
    first.get("headerExtensions", [])[0]["preferredId"] = 99
    assert router_caps(OPUS, VP8) != first


# --- codec matching for producers (H264, VP9, RTX) ---------------------------------

# Router: VP9 p0 100/101, VP9 p2 102/103, H264 pm1 CB 104/105, H264 pm0 CB 106/107,
# H264 pm1 High 108/109, H264 pm1 Main 110/111, opus 112.
MATCHING_ROUTER = (
    vp9(),
    vp9(**{"profile-id": 2}),
    h264(**{"packetization-mode": 1, "profile-level-id": "42e01f"}),
    h264(**{"profile-level-id": "42e01f"}),
    h264(**{"packetization-mode": 1, "profile-level-id": "640032"}),
    h264(**{"packetization-mode": 1, "profile-level-id": "4d0032"}),
    OPUS,
)


@pytest.mark.parametrize(
    ("codec", "mapped"),
    [
        (pt_codec("video/VP9", 96), 100),
        (pt_codec("video/VP9", 96, parameters={"profile-id": 0}), 100),
        (pt_codec("video/VP9", 96, parameters={"profile-id": 2}), 102),
        (pt_codec("video/vp9", 96, parameters={"profile-id": 2}), 102),
        (pt_codec("video/VP9", 96, parameters={"profile-id": 1}), None),
        (pt_codec("video/H264", 96, parameters={"packetization-mode": 1, "profile-level-id": "42e01f"}), 104),
        # Same profile at another level still matches.
        (pt_codec("video/H264", 96, parameters={"packetization-mode": 1, "profile-level-id": "42e034"}), 104),
        # 0x4d with constraint_set1 is Constrained Baseline too.
        (pt_codec("video/H264", 96, parameters={"packetization-mode": 1, "profile-level-id": "4de01f"}), 104),
        (pt_codec("video/H264", 96, parameters={"packetization-mode": 0, "profile-level-id": "42e01f"}), 106),
        # No profile-level-id means Constrained Baseline 3.1.
        (pt_codec("video/H264", 96), 106),
        (
            pt_codec("video/H264", 96, parameters={"packetization-mode": 1, "profile-level-id": "42001f"}),
            None,
        ),
        (pt_codec("video/H264", 96, parameters={"packetization-mode": 1, "profile-level-id": "64001f"}), 108),
        (
            pt_codec("video/H264", 96, parameters={"packetization-mode": 1, "profile-level-id": "640c1f"}),
            None,
        ),
        (pt_codec("video/H264", 96, parameters={"packetization-mode": 1, "profile-level-id": "4d001f"}), 110),
        (
            pt_codec("video/H264", 96, parameters={"packetization-mode": 1, "profile-level-id": "f4001f"}),
            None,
        ),
        (
            pt_codec("video/H264", 96, parameters={"packetization-mode": 1, "profile-level-id": "zzzzzz"}),
            None,
        ),
        (pt_codec("video/H264", 96, parameters={"packetization-mode": 2}), None),
        # Parameter types are compared strictly, as mediasoup does.
        (
            pt_codec("video/H264", 96, parameters={"packetization-mode": "1", "profile-level-id": "42e01f"}),
            None,
        ),
        (pt_codec("video/VP8", 96), None),
        (pt_codec("audio/opus", 111, 48000, channels=2), 112),
        (pt_codec("audio/opus", 111, 48000), None),
        (pt_codec("audio/opus", 111, 44100, channels=2), None),
    ],
)
def test_producer_codec_matching(codec: dict[str, Any], mapped: int | None) -> None:
    caps = router_caps(*MATCHING_ROUTER)
    params = producer_params(codec)
    if mapped is None:
        with pytest.raises(UnsupportedError, match="unsupported codec"):
            ortc.get_producer_rtp_parameters_mapping(params, caps)
    else:
        mapping = ortc.get_producer_rtp_parameters_mapping(params, caps)
        assert mapping["codecs"] == [{"payloadType": codec["payloadType"], "mappedPayloadType": mapped}]


@pytest.mark.parametrize(
    ("producer", "router", "answer"),
    [
        # Router codecs carry level-asymmetry-allowed=1 from the supported table.
        ({"profile-level-id": "42e01f"}, {"profile-level-id": "42e01f"}, "42e01f"),
        ({"profile-level-id": "42e034"}, {"profile-level-id": "42e01f"}, "42e01f"),
        ({"profile-level-id": "42e015"}, {"profile-level-id": "42e01f"}, "42e015"),
        (
            {"profile-level-id": "42e034", "level-asymmetry-allowed": 1},
            {"profile-level-id": "42e01f"},
            "42e034",
        ),
        (
            {"profile-level-id": "42e034", "level-asymmetry-allowed": 1},
            {"level-asymmetry-allowed": 0, "profile-level-id": "42e01f"},
            "42e01f",
        ),
        ({"profile-level-id": "42e00a", "level-asymmetry-allowed": "1"}, {}, "42e00a"),
        (
            {"profile-level-id": "4de01f", "level-asymmetry-allowed": 1},
            {"profile-level-id": "42e01f"},
            "42e01f",
        ),
        ({}, {"profile-level-id": "42e01f"}, "42e01f"),
        ({}, {}, None),
    ],
)
def test_producer_h264_profile_level_id_is_rewritten_to_the_answer(
    producer: dict[str, Any], router: dict[str, Any], answer: str | None
) -> None:
    caps = router_caps(h264(**{"packetization-mode": 1, **router}))
    params = producer_params(pt_codec("video/H264", 96, parameters={"packetization-mode": 1, **producer}))

    ortc.get_producer_rtp_parameters_mapping(params, caps)

    assert params["codecs"][0].get("parameters", {}).get("profile-level-id") == answer


def test_producer_rtx_codecs_are_mapped_after_media_codecs() -> None:
    caps = router_caps(VP8, h264(**{"packetization-mode": 1}))  # VP8 100/101, H264 102/103
    params = producer_params(
        rtx(97, 96),
        pt_codec("video/VP8", 96),
        rtx(99, 98),
        pt_codec("video/H264", 98, parameters={"packetization-mode": 1}),
    )

    mapping = ortc.get_producer_rtp_parameters_mapping(params, caps)

    assert mapping["codecs"] == [
        {"payloadType": 96, "mappedPayloadType": 100},
        {"payloadType": 98, "mappedPayloadType": 102},
        {"payloadType": 97, "mappedPayloadType": 101},
        {"payloadType": 99, "mappedPayloadType": 103},
    ]


@pytest.mark.parametrize("apt", [95, 97])
def test_producer_rtx_without_its_media_codec_raises_type_error(apt: int) -> None:
    caps = router_caps(VP8)
    params = producer_params(pt_codec("video/VP8", 96), rtx(97, apt))
    with pytest.raises(TypeError, match="missing media codec found for RTX PT 97"):
        ortc.get_producer_rtp_parameters_mapping(params, caps)


def test_producer_rtx_for_a_router_codec_without_rtx_is_unsupported() -> None:
    caps = router_caps(OPUS)  # audio codecs get no RTX
    params = producer_params(
        pt_codec("audio/opus", 111, 48000, channels=2),
        pt_codec("audio/rtx", 112, 48000, parameters={"apt": 111}),
    )
    with pytest.raises(UnsupportedError, match="no RTX codec for capability codec PT 100"):
        ortc.get_producer_rtp_parameters_mapping(params, caps)


def test_producer_encodings_map_to_consecutive_ssrcs() -> None:
    caps = router_caps(VP8)
    params = producer_params(
        pt_codec("video/VP8", 96),
        encodings=[{"rid": "r0"}, {"rid": "r1"}, {"ssrc": 1234, "rid": "r2"}],
    )

    encodings = ortc.get_producer_rtp_parameters_mapping(params, caps)["encodings"]

    base = encodings[0]["mappedSsrc"]
    assert 100_000_000 <= base < 999_999_999
    assert encodings == [
        {"mappedSsrc": base, "rid": "r0"},
        {"mappedSsrc": base + 1, "rid": "r1"},
        {"mappedSsrc": base + 2, "ssrc": 1234, "rid": "r2"},
    ]


# --- consumable parameters ---------------------------------------------------------

AUDIO_CONSUMABLE_IDS = [1, 4, 6, 11, 12]  # mid, abs-send-time, audio-level, playout-delay, packet-id
VIDEO_CONSUMABLE_IDS = [1, 4, 5, 8, 9, 11, 12]  # + transport-cc, video-orientation, toffset


@pytest.mark.parametrize(
    ("kind", "producer_uris", "expected_ids"),
    [
        ("audio", [], AUDIO_CONSUMABLE_IDS),
        ("video", [], VIDEO_CONSUMABLE_IDS),
        # abs-capture-time is announced only when the producer sends it.
        ("audio", [URI_ABS_CAPTURE_TIME], [1, 4, 6, 10, 11, 12]),
        ("video", [URI_ABS_CAPTURE_TIME, URI_MID], [1, 4, 5, 8, 9, 10, 11, 12]),
    ],
)
def test_consumable_header_extensions_by_kind_and_direction(
    kind: str, producer_uris: list[str], expected_ids: list[int]
) -> None:
    caps = router_caps(OPUS, VP8)
    codec = pt_codec("audio/opus", 111, 48000, channels=2) if kind == "audio" else pt_codec("video/VP8", 96)
    params = producer_params(
        codec,
        headerExtensions=[{"uri": uri, "id": i + 1} for i, uri in enumerate(producer_uris)],
        encodings=[{"ssrc": 1}],
    )
    mapping = ortc.get_producer_rtp_parameters_mapping(params, caps)

    consumable = ortc.get_consumable_rtp_parameters(kind, params, caps, mapping)

    assert [ext["id"] for ext in consumable.get("headerExtensions", [])] == expected_ids
    assert all(
        ext.get("encrypt") is False and ext.get("parameters") == {}
        for ext in consumable.get("headerExtensions", [])
    )


def test_consumable_audio_codec_keeps_channels_and_gets_no_rtx() -> None:
    caps = router_caps(OPUS)
    params = producer_params(
        pt_codec("audio/opus", 111, 48000, channels=2, parameters={"useinbandfec": 1}),
        encodings=[{"ssrc": 5, "dtx": True, "codecPayloadType": 111}],
        msid="stream track",
    )
    mapping = ortc.get_producer_rtp_parameters_mapping(params, caps)

    consumable = ortc.get_consumable_rtp_parameters("audio", params, caps, mapping)

    assert consumable["codecs"] == [
        {
            "mimeType": "audio/opus",
            "payloadType": 100,
            "clockRate": 48000,
            "channels": 2,
            "parameters": {"useinbandfec": 1},
            "rtcpFeedback": [
                {"type": "nack", "parameter": ""},
                {"type": "transport-cc", "parameter": ""},
            ],
        }
    ]
    assert consumable.get("encodings") == [{"ssrc": mapping["encodings"][0]["mappedSsrc"], "dtx": True}]
    assert consumable.get("rtcp") == {"reducedSize": True}
    assert consumable.get("msid") == "stream track"


def test_consumable_parameters_share_nothing_with_their_sources() -> None:
    caps = router_caps(VP8)
    params = producer_params(
        pt_codec("video/VP8", 96, parameters={"x": 1}), rtx(97, 96), encodings=[{"ssrc": 1}]
    )
    mapping = ortc.get_producer_rtp_parameters_mapping(params, caps)
    params_before, caps_before = copy.deepcopy(params), copy.deepcopy(caps)

    consumable = ortc.get_consumable_rtp_parameters("video", params, caps, mapping)
    for codec in consumable["codecs"]:
        codec.get("parameters", {}).clear()
        codec.get("rtcpFeedback", []).clear()
    consumable.get("encodings", [])[0]["maxBitrate"] = 1

    assert params == params_before
    assert caps == caps_before


# --- can_consume -------------------------------------------------------------------


@pytest.fixture
def h264_consumable() -> RtpParameters:
    caps = router_caps(OPUS, h264(**{"packetization-mode": 1, "profile-level-id": "4d0032"}))
    params = producer_params(
        pt_codec("video/H264", 96, parameters={"packetization-mode": 1, "profile-level-id": "4d0032"}),
        rtx(97, 96),
        encodings=[{"ssrc": 1}],
    )
    mapping = ortc.get_producer_rtp_parameters_mapping(params, caps)
    return ortc.get_consumable_rtp_parameters("video", params, caps, mapping)


def remote_codec(mime_type: str, payload_type: int, **parameters: Any) -> dict[str, Any]:
    return {
        "mimeType": mime_type,
        "preferredPayloadType": payload_type,
        "clockRate": 90000,
        "parameters": parameters,
    }


REMOTE_H264 = remote_codec("video/H264", 120, **{"packetization-mode": 1, "profile-level-id": "4d001f"})
REMOTE_RTX = remote_codec("video/rtx", 121, apt=120)


@pytest.mark.parametrize(
    ("remote_codecs", "expected"),
    [
        ([REMOTE_H264], True),
        ([REMOTE_H264, REMOTE_RTX], True),
        ([REMOTE_RTX], False),
        ([], False),
        ([remote_codec("video/VP8", 96)], False),
        ([remote_codec("video/H264", 96, **{"packetization-mode": 1, "profile-level-id": "42e01f"})], False),
        ([remote_codec("video/H264", 96, **{"profile-level-id": "4d0032"})], False),
    ],
    ids=[
        "same-profile",
        "with-rtx",
        "only-rtx",
        "nothing",
        "other-codec",
        "other-profile",
        "other-packetization",
    ],
)
def test_can_consume(
    h264_consumable: RtpParameters, remote_codecs: list[dict[str, Any]], expected: bool
) -> None:
    caps = {"codecs": copy.deepcopy(remote_codecs)}
    assert ortc.can_consume(h264_consumable, as_caps(caps)) is expected
    assert caps == {"codecs": remote_codecs}


def test_can_consume_rejects_invalid_capabilities(h264_consumable: RtpParameters) -> None:
    with pytest.raises(TypeError, match=re.escape("missing codec.clockRate")):
        ortc.can_consume(h264_consumable, as_caps({"codecs": [{"mimeType": "video/H264"}]}))


# --- consumer parameters -----------------------------------------------------------


def remote_with_feedback(*uris_and_ids: tuple[str, int], rtx_codec: bool = True) -> RtpCapabilities:
    codecs = [{**REMOTE_H264, "rtcpFeedback": VIDEO_FEEDBACK}]
    if rtx_codec:
        codecs.append(REMOTE_RTX)
    return as_caps(
        {"codecs": codecs, "headerExtensions": [header_ext("video", uri, i) for uri, i in uris_and_ids]}
    )


@pytest.mark.parametrize(
    ("uris_and_ids", "feedback_types"),
    [
        ([(URI_TRANSPORT_WIDE_CC, 5), (URI_ABS_SEND_TIME, 4)], ["nack", "nack", "ccm", "transport-cc"]),
        ([(URI_ABS_SEND_TIME, 4)], ["nack", "nack", "ccm", "goog-remb"]),
        ([], ["nack", "nack", "ccm"]),
        # Matching needs the router's id: transport-cc under another id does not count.
        ([(URI_TRANSPORT_WIDE_CC, 3), (URI_ABS_SEND_TIME, 4)], ["nack", "nack", "ccm", "goog-remb"]),
    ],
)
def test_consumer_keeps_one_congestion_control_feedback(
    h264_consumable: RtpParameters, uris_and_ids: list[tuple[str, int]], feedback_types: list[str]
) -> None:
    consumer = ortc.get_consumer_rtp_parameters(
        h264_consumable, remote_with_feedback(*uris_and_ids), pipe=False, enable_rtx=True
    )
    assert [fb["type"] for fb in consumer["codecs"][0].get("rtcpFeedback", [])] == feedback_types


def test_consumer_header_extensions_need_same_id_and_uri(h264_consumable: RtpParameters) -> None:
    remote = remote_with_feedback((URI_MID, 3), (URI_ABS_SEND_TIME, 4), ("urn:3gpp:video-orientation", 8))
    consumer = ortc.get_consumer_rtp_parameters(h264_consumable, remote, pipe=False, enable_rtx=True)
    assert [(e["uri"], e["id"]) for e in consumer.get("headerExtensions", [])] == [
        (URI_ABS_SEND_TIME, 4),
        ("urn:3gpp:video-orientation", 8),
    ]


@pytest.mark.parametrize(
    ("enable_rtx", "remote_rtx", "expect_rtx"),
    [(True, True, True), (True, False, False), (False, True, False)],
)
def test_consumer_rtx(
    h264_consumable: RtpParameters, enable_rtx: bool, remote_rtx: bool, expect_rtx: bool
) -> None:
    remote = remote_with_feedback(rtx_codec=remote_rtx)

    consumer = ortc.get_consumer_rtp_parameters(h264_consumable, remote, pipe=False, enable_rtx=enable_rtx)

    expected_mime_types = ["video/H264", "video/rtx"] if expect_rtx else ["video/H264"]
    assert [c["mimeType"] for c in consumer["codecs"]] == expected_mime_types
    [encoding] = consumer.get("encodings", [])
    if expect_rtx:
        assert encoding.get("rtx") == {"ssrc": encoding.get("ssrc", 0) + 1}
    else:
        assert "rtx" not in encoding
    fb = consumer["codecs"][0].get("rtcpFeedback", [])
    # Generic NACK (retransmission requests) only makes sense with RTX enabled.
    assert ({"type": "nack", "parameter": ""} in fb) is enable_rtx
    assert {"type": "nack", "parameter": "pli"} in fb


def test_consumer_drops_rtx_whose_media_codec_is_not_supported() -> None:
    caps = router_caps(VP8, h264(**{"packetization-mode": 1}))  # VP8 100/101, H264 102/103
    params = producer_params(
        pt_codec("video/VP8", 96),
        rtx(97, 96),
        pt_codec("video/H264", 98, parameters={"packetization-mode": 1}),
        rtx(99, 98),
    )
    mapping = ortc.get_producer_rtp_parameters_mapping(params, caps)
    consumable = ortc.get_consumable_rtp_parameters("video", params, caps, mapping)
    remote = as_caps(
        {
            "codecs": [
                remote_codec("video/H264", 50, **{"packetization-mode": 1}),
                remote_codec("video/rtx", 51, apt=50),
            ]
        }
    )

    consumer = ortc.get_consumer_rtp_parameters(consumable, remote, pipe=False, enable_rtx=True)

    assert [(c["mimeType"], c["payloadType"]) for c in consumer["codecs"]] == [
        ("video/H264", 102),
        ("video/rtx", 103),
    ]


@pytest.mark.parametrize(
    "remote_codecs",
    [[], [REMOTE_RTX], [remote_codec("video/VP8", 96)]],
    ids=["nothing", "only-rtx", "other-codec"],
)
def test_consumer_without_compatible_media_codec_is_unsupported(
    h264_consumable: RtpParameters, remote_codecs: list[dict[str, Any]]
) -> None:
    with pytest.raises(UnsupportedError, match="no compatible media codecs"):
        ortc.get_consumer_rtp_parameters(
            h264_consumable, as_caps({"codecs": remote_codecs}), pipe=False, enable_rtx=True
        )


def consumable_with_encodings(encodings: list[dict[str, Any]]) -> RtpParameters:
    vp8 = {**pt_codec("video/VP8", 100), "parameters": {}, "rtcpFeedback": []}
    consumable = {"codecs": [vp8], "headerExtensions": [], "encodings": encodings, "rtcp": {"cname": "c"}}
    return consumable  # type: ignore[return-value]


VP8_REMOTE = as_caps({"codecs": [remote_codec("video/VP8", 96)]})


@pytest.mark.parametrize(
    ("encodings", "mode", "max_bitrate"),
    [
        ([], None, None),
        ([{"ssrc": 1}], None, None),
        ([{"ssrc": 1, "scalabilityMode": "L1T3", "maxBitrate": 500}], "L1T3", 500),
        ([{"ssrc": 1, "scalabilityMode": "S3T3"}], "S3T3", None),
        ([{"ssrc": 1, "scalabilityMode": "L3T3_KEY"}], "L3T3_KEY", None),
        # Simulcast becomes spatial layers of the consumer's single stream.
        ([{"ssrc": 1, "scalabilityMode": "L1T3"}, {"ssrc": 2, "scalabilityMode": "L1T3"}], "L2T3", None),
        ([{"ssrc": 1}, {"ssrc": 2}, {"ssrc": 3}], "L3T1", None),
        ([{"ssrc": 1}, {"ssrc": 2, "scalabilityMode": "L1T2"}], "L2T2", None),
        ([{"ssrc": 1, "maxBitrate": 100}, {"ssrc": 2}, {"ssrc": 3, "maxBitrate": 900}], "L3T1", 900),
    ],
)
def test_consumer_single_encoding(
    encodings: list[dict[str, Any]], mode: str | None, max_bitrate: int | None
) -> None:
    consumer = ortc.get_consumer_rtp_parameters(
        consumable_with_encodings(encodings), VP8_REMOTE, pipe=False, enable_rtx=True
    )
    [encoding] = consumer.get("encodings", [])
    assert 100_000_000 <= encoding.get("ssrc", 0) < 999_999_999
    assert encoding.get("scalabilityMode") == mode
    assert encoding.get("maxBitrate") == max_bitrate
    assert "rtx" not in encoding


def test_pipe_consumer_via_get_consumer_keeps_every_encoding(h264_consumable: RtpParameters) -> None:
    consumable = copy.deepcopy(h264_consumable)
    consumable["encodings"] = [
        {"ssrc": 1, "scalabilityMode": "L1T3"},
        {"ssrc": 2, "scalabilityMode": "L1T3", "rtx": {"ssrc": 7}},
    ]

    with_rtx = ortc.get_consumer_rtp_parameters(
        consumable, remote_with_feedback(), pipe=True, enable_rtx=True
    )
    without_rtx = ortc.get_consumer_rtp_parameters(
        consumable, remote_with_feedback(rtx_codec=False), pipe=True, enable_rtx=True
    )

    first, second = with_rtx.get("encodings", [])
    assert second.get("ssrc") == first.get("ssrc", 0) + 1
    assert second.get("rtx", {}).get("ssrc") == first.get("rtx", {}).get("ssrc", 0) + 1
    assert [e.get("scalabilityMode") for e in (first, second)] == ["L1T3", "L1T3"]
    assert all("rtx" not in e for e in without_rtx.get("encodings", []))


def test_consumer_parameters_share_nothing_with_their_sources(h264_consumable: RtpParameters) -> None:
    h264_consumable["msid"] = "s t"
    remote = remote_with_feedback((URI_MID, 1))
    consumable_before, remote_before = copy.deepcopy(h264_consumable), copy.deepcopy(remote)

    consumer = ortc.get_consumer_rtp_parameters(h264_consumable, remote, pipe=False, enable_rtx=True)
    consumer.get("rtcp", {})["cname"] = "changed"
    consumer.get("headerExtensions", [])[0]["id"] = 42
    consumer["codecs"][0].get("parameters", {}).clear()

    assert consumer.get("msid") == "s t"
    assert h264_consumable == consumable_before
    assert remote == remote_before


# --- pipe consumers -------------------------------------------------------------------


def video_consumable(**producer: Any) -> RtpParameters:
    caps = router_caps(VP8)
    params = producer_params(
        pt_codec("video/VP8", 96),
        rtx(97, 96),
        encodings=[{"ssrc": 1, "rtx": {"ssrc": 2}}, {"ssrc": 3, "rtx": {"ssrc": 4}}],
        **producer,
    )
    mapping = ortc.get_producer_rtp_parameters_mapping(params, caps)
    return ortc.get_consumable_rtp_parameters("video", params, caps, mapping)


def test_pipe_consumer_without_rtx() -> None:
    consumable = video_consumable()

    pipe = ortc.get_pipe_consumer_rtp_parameters(consumable)

    assert [c["mimeType"] for c in pipe["codecs"]] == ["video/VP8"]
    assert pipe["codecs"][0].get("rtcpFeedback") == [
        {"type": "nack", "parameter": "pli"},
        {"type": "ccm", "parameter": "fir"},
    ]
    # MID and BWE extensions go; Dependency Descriptor (receive-only towards
    # endpoints) is added so the next router can forward layers; ids stay sorted.
    assert [(e["uri"], e["id"]) for e in pipe.get("headerExtensions", [])] == [
        (URI_DEPENDENCY_DESCRIPTOR, 7),
        ("urn:3gpp:video-orientation", 8),
        ("urn:ietf:params:rtp-hdrext:toffset", 9),
        ("http://www.webrtc.org/experiments/rtp-hdrext/playout-delay", 11),
        ("urn:mediasoup:params:rtp-hdrext:packet-id", 12),
    ]
    first, second = pipe.get("encodings", [])
    assert second.get("ssrc") == first.get("ssrc", 0) + 1
    assert "rtx" not in first and "rtx" not in second


def test_pipe_consumer_with_rtx() -> None:
    pipe = ortc.get_pipe_consumer_rtp_parameters(video_consumable(), enable_rtx=True)

    assert [c["mimeType"] for c in pipe["codecs"]] == ["video/VP8", "video/rtx"]
    assert pipe["codecs"][0].get("rtcpFeedback") == [
        {"type": "nack", "parameter": ""},
        {"type": "nack", "parameter": "pli"},
        {"type": "ccm", "parameter": "fir"},
    ]
    first, second = pipe.get("encodings", [])
    assert second.get("rtx", {}).get("ssrc") == first.get("rtx", {}).get("ssrc", 0) + 1


def test_pipe_consumer_relays_abs_capture_time_when_the_producer_sends_it() -> None:
    consumable = video_consumable(headerExtensions=[{"uri": URI_ABS_CAPTURE_TIME, "id": 3}])
    pipe = ortc.get_pipe_consumer_rtp_parameters(consumable)
    assert [e["id"] for e in pipe.get("headerExtensions", [])] == [7, 8, 9, 10, 11, 12]


def test_pipe_consumer_adds_dependency_descriptor_for_audio_too() -> None:
    # mediasoup appends it regardless of kind; the worker ignores it for audio.
    caps = router_caps(OPUS)
    params = producer_params(pt_codec("audio/opus", 111, 48000, channels=2), encodings=[{"ssrc": 1}])
    mapping = ortc.get_producer_rtp_parameters_mapping(params, caps)
    consumable = ortc.get_consumable_rtp_parameters("audio", params, caps, mapping)

    pipe = ortc.get_pipe_consumer_rtp_parameters(consumable)

    assert [e["id"] for e in pipe.get("headerExtensions", [])] == [6, 7, 11, 12]


def test_pipe_consumer_does_not_touch_the_consumable() -> None:
    consumable = video_consumable()
    before = copy.deepcopy(consumable)
    pipe = ortc.get_pipe_consumer_rtp_parameters(consumable, enable_rtx=True)
    pipe["codecs"][0].get("rtcpFeedback", []).clear()
    pipe.get("rtcp", {})["cname"] = "x"
    assert consumable == before
