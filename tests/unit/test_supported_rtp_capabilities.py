"""Facts of the supported-capabilities table that routers and negotiation rely on."""

from __future__ import annotations

import pytest

from sfuctl.server.media.supported_rtp_capabilities import (
    URI_DEPENDENCY_DESCRIPTOR,
    URI_TRANSPORT_WIDE_CC,
    supported_rtp_capabilities,
)


def codec_keys() -> list[tuple[str, int, int | None]]:
    return [
        (c["mimeType"], c["clockRate"], c.get("channels"))
        for c in supported_rtp_capabilities().get("codecs", [])
    ]


def test_codecs_are_distinct_by_mime_type_clock_rate_and_channels() -> None:
    keys = codec_keys()
    assert len(keys) == len(set(keys)) == 25


@pytest.mark.parametrize(
    ("mime_type", "clock_rate", "payload_type"),
    [
        ("audio/PCMU", 8000, 0),
        ("audio/PCMA", 8000, 8),
        ("audio/G722", 8000, 9),
        ("audio/CN", 8000, 13),
        ("audio/CN", 32000, 13),
        ("audio/opus", 48000, None),
        ("video/VP8", 90000, None),
    ],
)
def test_static_payload_types(mime_type: str, clock_rate: int, payload_type: int | None) -> None:
    [codec] = [
        c
        for c in supported_rtp_capabilities().get("codecs", [])
        if (c["mimeType"], c["clockRate"]) == (mime_type, clock_rate)
    ]
    assert codec.get("preferredPayloadType") == payload_type


@pytest.mark.parametrize(
    ("channels", "num_streams", "coupled_streams"),
    [(4, 2, 2), (6, 4, 2), (8, 5, 3)],
)
def test_multiopus_layouts(channels: int, num_streams: int, coupled_streams: int) -> None:
    [codec] = [
        c
        for c in supported_rtp_capabilities().get("codecs", [])
        if c["mimeType"] == "audio/multiopus" and c.get("channels") == channels
    ]
    parameters = codec.get("parameters", {})
    assert (parameters["num_streams"], parameters["coupled_streams"]) == (num_streams, coupled_streams)
    assert len(str(parameters["channel_mapping"]).split(",")) == channels


def test_video_codecs_have_full_feedback_and_h264_allows_level_asymmetry() -> None:
    video = [c for c in supported_rtp_capabilities().get("codecs", []) if c["kind"] == "video"]
    assert [c["mimeType"] for c in video] == ["video/VP8", "video/VP9", "video/H264", "video/AV1"]
    for codec in video:
        assert [(fb["type"], fb.get("parameter")) for fb in codec.get("rtcpFeedback", [])] == [
            ("nack", None),
            ("nack", "pli"),
            ("ccm", "fir"),
            ("goog-remb", None),
            ("transport-cc", None),
        ]
    assert video[2].get("parameters") == {"level-asymmetry-allowed": 1}


@pytest.mark.parametrize(
    ("kind", "uri", "preferred_id", "direction"),
    [
        ("video", "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id", 2, "recvonly"),
        ("video", "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id", 3, "recvonly"),
        ("audio", URI_TRANSPORT_WIDE_CC, 5, "recvonly"),
        ("video", URI_TRANSPORT_WIDE_CC, 5, "sendrecv"),
        ("audio", "urn:ietf:params:rtp-hdrext:ssrc-audio-level", 6, "sendrecv"),
        ("video", URI_DEPENDENCY_DESCRIPTOR, 7, "recvonly"),
        ("video", "urn:mediasoup:params:rtp-hdrext:packet-id", 12, "sendrecv"),
    ],
)
def test_header_extension_facts(kind: str, uri: str, preferred_id: int, direction: str) -> None:
    [ext] = [
        e
        for e in supported_rtp_capabilities().get("headerExtensions", [])
        if (e["kind"], e["uri"]) == (kind, uri)
    ]
    assert (ext["preferredId"], ext.get("direction"), ext.get("preferredEncrypt")) == (
        preferred_id,
        direction,
        False,
    )


def test_one_id_per_uri_across_kinds() -> None:
    ids: dict[str, set[int]] = {}
    for ext in supported_rtp_capabilities().get("headerExtensions", []):
        ids.setdefault(ext["uri"], set()).add(ext["preferredId"])
    assert all(len(found) == 1 for found in ids.values())
    assert sorted(i for (i,) in ids.values()) == list(range(1, 13))


def test_each_call_returns_an_independent_copy() -> None:
    first = supported_rtp_capabilities()
    first.get("codecs", []).clear()
    assert len(supported_rtp_capabilities().get("codecs", [])) == 25
