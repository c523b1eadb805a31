"""Client input the controller validates fails with InvalidInputError, and with nothing else.

The session answers only InvalidInputError (and UnsupportedError) as a client's mistake; any other
exception is a server fault (``internal``, logged). So malformed mediasoup structures, up to their
FlatBuffers encoding, must never raise a bare TypeError, KeyError, struct.error, ...
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sfuctl.server.media import codec as channel_codec
from sfuctl.server.media import ortc
from sfuctl.server.media.errors import InvalidInputError, MediaError, UnsupportedError, WorkerTypeError
from sfuctl.server.media.fbs.DataProducer.Type import Type as DataType
from sfuctl.server.media.fbs.Message.Body import Body as MessageBody
from sfuctl.server.media.fbs.Request.Body import Body as RequestBody
from sfuctl.server.media.fbs.Request.Method import Method
from sfuctl.server.media.rtp_fbs import rtp_mapping_to_fbs, rtp_parameters_to_fbs
from sfuctl.server.media.transport import sctp_stream_parameters_to_fbs
from sfuctl.server.media.webrtc_transport import dtls_parameters_to_fbs

ROUTER_CAPS = ortc.generate_router_rtp_capabilities(
    [
        {"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2},
        {"kind": "video", "mimeType": "video/VP8", "clockRate": 90000},
    ]
)
WORDS = ["audio/opus", "video/VP8", "video/rtx", "urn:ietf:params:rtp-hdrext:sdes:mid", "sha-256", "client"]
scalar = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6)
value = st.recursive(
    scalar | st.sampled_from(WORDS),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
    max_leaves=6,
)
NOTHING: st.SearchStrategy[Any] = st.nothing()


def keyed(keys: list[str], extra: st.SearchStrategy[Any] = NOTHING) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(keys), value | extra, max_size=len(keys))


codec = st.fixed_dictionaries(
    {
        "mimeType": st.sampled_from(["audio/opus", "video/VP8", "video/rtx"]) | value,
        "payloadType": st.integers(-5, 300) | value,
        "clockRate": st.sampled_from([48000, 90000]) | st.integers(),
    },
    optional={
        "channels": value,
        "parameters": keyed(["apt", "x"], st.integers()),
        "rtcpFeedback": st.lists(keyed(["type", "parameter"]), max_size=2),
    },
)
rtp_parameters = st.fixed_dictionaries(
    {"codecs": st.lists(codec, max_size=2)},
    optional={
        "mid": value,
        "encodings": st.lists(
            keyed(["ssrc", "rid", "rtx", "dtx", "maxBitrate", "codecPayloadType"], st.just({"ssrc": -1})),
            max_size=2,
        ),
        "headerExtensions": st.lists(
            keyed(["uri", "id", "encrypt", "parameters"], st.integers()), max_size=2
        ),
        "rtcp": value,
    },
)


CODEC = channel_codec.load()


def encodes(method: int, body_type: int, body: dict[str, Any]) -> None:
    """Encode ``body`` as the worker receives it, in a whole request message."""
    data = {"id": 1, "method": method, "handlerId": "h", "bodyType": body_type, "body": body}
    CODEC.encode({"dataType": MessageBody.Request, "data": data})


def produce(**fields: Any) -> None:
    body = {"producerId": "p", "kind": 1, "paused": False, **fields}
    body.setdefault("rtpParameters", {"codecs": [], "encodings": []})
    body.setdefault("rtpMapping", {"codecs": [], "encodings": []})
    encodes(Method.TRANSPORT_PRODUCE, RequestBody.Transport_ProduceRequest, body)


def test_the_input_error_is_a_type_error_of_its_own() -> None:
    assert issubclass(InvalidInputError, TypeError) and issubclass(InvalidInputError, MediaError)
    assert issubclass(WorkerTypeError, InvalidInputError)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(kind=st.sampled_from(["audio", "video"]), params=rtp_parameters)
def test_malformed_rtp_parameters_fail_as_input_errors(kind: str, params: dict[str, Any]) -> None:
    try:
        valid = ortc.validate_and_normalize_rtp_parameters(params)
        mapping = ortc.get_producer_rtp_parameters_mapping(valid, ROUTER_CAPS)
        ortc.get_consumable_rtp_parameters(kind, valid, ROUTER_CAPS, mapping)
        produce(
            rtpParameters=rtp_parameters_to_fbs(dict(valid)), rtpMapping=rtp_mapping_to_fbs(dict(mapping))
        )
    except (InvalidInputError, UnsupportedError):
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(params=keyed(["streamId", "ordered", "maxPacketLifeTime", "maxRetransmits"], st.integers()))
def test_malformed_sctp_stream_parameters_fail_as_input_errors(params: dict[str, Any]) -> None:
    try:
        stream = sctp_stream_parameters_to_fbs(
            dict(ortc.validate_and_normalize_sctp_stream_parameters(params))
        )
        body = {"dataProducerId": "d", "type": DataType.SCTP, "sctpStreamParameters": stream}
        encodes(Method.TRANSPORT_PRODUCE_DATA, RequestBody.Transport_ProduceDataRequest, body)
    except InvalidInputError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(params=keyed(["role", "fingerprints"], st.lists(keyed(["algorithm", "value"], st.just("sha-256")))))
def test_malformed_dtls_parameters_fail_as_input_errors(params: dict[str, Any]) -> None:
    try:
        body = {"dtlsParameters": dtls_parameters_to_fbs(params)}
        encodes(Method.WEBRTCTRANSPORT_CONNECT, RequestBody.WebRtcTransport_ConnectRequest, body)
    except InvalidInputError:
        pass
