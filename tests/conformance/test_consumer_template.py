"""Consumers of one producer for the same capabilities share the ORTC work (a template per
producer), yet each has its own SSRCs, MID and parameter objects, and the worker gets them."""

from __future__ import annotations

import copy
from typing import Any

from sfuctl.server.media.webrtc_transport import WebRtcTransport
from tests.conformance.test_consumer import (
    CONSUMER_DEVICE_CAPABILITIES,
    VIDEO_RTP_PARAMETERS,
)


def codecs(params: dict[str, Any]) -> list[tuple[str, int, dict[str, Any]]]:
    return [(c["mimeType"], c["payloadType"], c["parameters"]) for c in params["codecs"]]


async def test_consumers_of_one_producer_get_their_own_parameters(
    transport1: WebRtcTransport, transport2: WebRtcTransport
) -> None:
    producer = await transport1.produce("video", copy.deepcopy(VIDEO_RTP_PARAMETERS))
    consumers = [
        await transport2.consume(producer.id, copy.deepcopy(CONSUMER_DEVICE_CAPABILITIES)) for _ in range(3)
    ]
    ssrcs = [c.rtp_parameters["encodings"][0]["ssrc"] for c in consumers]
    assert len(set(ssrcs)) == 3
    assert len({c.rtp_parameters["mid"] for c in consumers}) == 3
    for consumer in consumers:
        encoding = consumer.rtp_parameters["encodings"][0]
        assert encoding["rtx"]["ssrc"] == encoding["ssrc"] + 1
        dump = await consumer.dump()
        assert dump["rtpParameters"]["encodings"][0]["ssrc"] == encoding["ssrc"]
        assert dump["rtpParameters"]["mid"] == consumer.rtp_parameters["mid"]
        assert codecs(dump["rtpParameters"]) == codecs(consumer.rtp_parameters)
    # One consumer's parameters are its own: changing them touches neither the others nor the
    # next consumer.
    consumers[0].rtp_parameters["codecs"][0]["parameters"]["mutated"] = 1
    consumers[0].rtp_parameters["encodings"][0]["ssrc"] = 7
    later = await transport2.consume(producer.id, copy.deepcopy(CONSUMER_DEVICE_CAPABILITIES))
    for consumer in (consumers[1], later):
        assert "mutated" not in consumer.rtp_parameters["codecs"][0]["parameters"]
        assert consumer.rtp_parameters["encodings"][0]["ssrc"] != 7
    assert codecs((await later.dump())["rtpParameters"]) == codecs(consumers[1].rtp_parameters)
