"""Port of mediasoup's test-multiopus.js: multichannel Opus (5.1, 4 streams of which 2 coupled).

==================================================  ==========================================
mediasoup case                                      here
==================================================  ==========================================
produce() and consume() succeed                     ported
fails to produce wrong parameters                   ported, parametrized
fails to consume wrong channels                     ported
==================================================  ==========================================
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sfuctl.server.media.errors import MediaError, UnsupportedError
from sfuctl.server.media.producer import Producer
from sfuctl.server.media.router import Router
from sfuctl.server.media.webrtc_transport import WebRtcTransport

MULTIOPUS_PARAMETERS: dict[str, Any] = {
    "channel_mapping": "0,4,1,2,3,5",
    "num_streams": 4,
    "coupled_streams": 2,
}

MEDIA_CODECS: list[dict[str, Any]] = [
    {
        "kind": "audio",
        "mimeType": "audio/multiopus",
        "preferredPayloadType": 100,
        "clockRate": 48000,
        "channels": 6,
        "parameters": {"useinbandfec": 1, **MULTIOPUS_PARAMETERS},
    }
]

AUDIO_RTP_PARAMETERS: dict[str, Any] = {
    "mid": "AUDIO",
    "codecs": [
        {
            "mimeType": "audio/multiopus",
            "payloadType": 0,
            "clockRate": 48000,
            "channels": 6,
            "parameters": {"useinbandfec": 1, **MULTIOPUS_PARAMETERS},
        }
    ],
    "headerExtensions": [
        {"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": 10},
        {"uri": "urn:ietf:params:rtp-hdrext:ssrc-audio-level", "id": 12},
    ],
}

CONSUMER_DEVICE_CAPABILITIES: dict[str, Any] = {
    "codecs": [
        {
            "mimeType": "audio/multiopus",
            "kind": "audio",
            "preferredPayloadType": 100,
            "clockRate": 48000,
            "channels": 6,
            "parameters": dict(MULTIOPUS_PARAMETERS),
        }
    ],
    "headerExtensions": [
        {
            "kind": "audio",
            "uri": "urn:ietf:params:rtp-hdrext:sdes:mid",
            "preferredId": 1,
            "preferredEncrypt": False,
        },
        {
            "kind": "audio",
            "uri": "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
            "preferredId": 4,
            "preferredEncrypt": False,
        },
        {
            "kind": "audio",
            "uri": "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            "preferredId": 10,
            "preferredEncrypt": False,
        },
    ],
}


@pytest.fixture
def media_codecs() -> list[dict[str, Any]]:
    return copy.deepcopy(MEDIA_CODECS)


@pytest.fixture
async def audio_producer(transport1: WebRtcTransport) -> Producer:
    return await transport1.produce("audio", copy.deepcopy(AUDIO_RTP_PARAMETERS))


async def test_produce_and_consume_succeed(router: Router, transport1: WebRtcTransport) -> None:
    producer = await transport1.produce("audio", copy.deepcopy(AUDIO_RTP_PARAMETERS))
    assert producer.rtp_parameters["codecs"] == [
        {
            "mimeType": "audio/multiopus",
            "payloadType": 0,
            "clockRate": 48000,
            "channels": 6,
            "parameters": {"useinbandfec": 1, **MULTIOPUS_PARAMETERS},
            "rtcpFeedback": [],
        }
    ]
    assert router.can_consume(producer.id, copy.deepcopy(CONSUMER_DEVICE_CAPABILITIES)) is True

    # mediasoup's test relies on its consume() default, paused=False.
    consumer = await transport1.consume(
        producer.id, copy.deepcopy(CONSUMER_DEVICE_CAPABILITIES), paused=False
    )
    assert consumer.rtp_parameters["codecs"] == [
        {
            "mimeType": "audio/multiopus",
            "payloadType": 100,
            "clockRate": 48000,
            "channels": 6,
            "parameters": {"useinbandfec": 1, **MULTIOPUS_PARAMETERS},
            "rtcpFeedback": [],
        }
    ]


@pytest.mark.parametrize(
    "stream_parameters",
    [
        pytest.param({"num_streams": 2, "coupled_streams": 2}, id="num_streams=2"),
        pytest.param({"num_streams": 4, "coupled_streams": 1}, id="coupled_streams=1"),
    ],
)
async def test_produce_with_wrong_parameters_raises(
    transport1: WebRtcTransport, stream_parameters: dict[str, int]
) -> None:
    rtp_parameters = {
        "mid": "AUDIO",
        "codecs": [
            {
                "mimeType": "audio/multiopus",
                "payloadType": 0,
                "clockRate": 48000,
                "channels": 6,
                "parameters": {"channel_mapping": "0,4,1,2,3,5", **stream_parameters},
            }
        ],
    }
    with pytest.raises(UnsupportedError):
        await transport1.produce("audio", rtp_parameters)


async def test_consume_with_wrong_channels_fails(
    router: Router, transport1: WebRtcTransport, audio_producer: Producer
) -> None:
    caps = {
        "codecs": [
            {
                "mimeType": "audio/multiopus",
                "kind": "audio",
                "preferredPayloadType": 100,
                "clockRate": 48000,
                "channels": 8,
                "parameters": dict(MULTIOPUS_PARAMETERS),
            }
        ]
    }
    assert router.can_consume(audio_producer.id, copy.deepcopy(caps)) is False
    with pytest.raises(MediaError):
        await transport1.consume(audio_producer.id, copy.deepcopy(caps), paused=False)
