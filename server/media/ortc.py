"""RTP/SCTP negotiation between endpoints, routers and the worker (mediasoup's ORTC rules).

Pure functions over plain dicts in mediasoup's JSON shapes (see ``rtp_types``).

Mutation contract:

- ``validate_and_normalize_*`` never touch their argument: they return a
  normalised deep copy (defaults filled in, JSON ``null`` treated as absent).
  Malformed input raises ``InvalidInputError`` (a ``TypeError``), worded as mediasoup words it.
- ``get_producer_rtp_parameters_mapping`` rewrites, in place, the H264
  ``profile-level-id`` of the producer parameters it is given to the negotiated
  answer: the producer and its consumers must carry the answered level. Pass it
  the copy returned by ``validate_and_normalize_rtp_parameters``.
- Every other function leaves its arguments alone and returns dicts that share
  nothing with them.

Input that is valid but cannot be served (no matching codec, ...) raises
``UnsupportedError``.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, TypeGuard, TypeVar, cast

from sfuctl.server.media import h264_profile_level_id as h264
from sfuctl.server.media.errors import InvalidInputError, UnsupportedError
from sfuctl.server.media.jsonclone import clone
from sfuctl.server.media.rtp_types import (
    EncodingMapping,
    RouterRtpCodecCapability,
    RtcpFeedback,
    RtcpParameters,
    RtpCapabilities,
    RtpCodecCapability,
    RtpCodecParameters,
    RtpEncodingParameters,
    RtpHeaderExtension,
    RtpHeaderExtensionParameters,
    RtpMapping,
    RtpParameters,
    SctpCapabilities,
    SctpParameters,
    SctpStreamParameters,
)
from sfuctl.server.media.scalability_modes import parse_scalability_mode
from sfuctl.server.media.supported_rtp_capabilities import (
    URI_ABS_CAPTURE_TIME,
    URI_ABS_SEND_TIME,
    URI_DEPENDENCY_DESCRIPTOR,
    URI_MID,
    URI_TRANSPORT_WIDE_CC,
    supported_rtp_capabilities,
)

__all__ = [
    "can_consume",
    "generate_router_rtp_capabilities",
    "get_consumable_rtp_parameters",
    "get_consumer_rtp_parameters",
    "get_pipe_consumer_rtp_parameters",
    "get_producer_rtp_parameters_mapping",
    "validate_and_normalize_rtp_capabilities",
    "validate_and_normalize_rtp_parameters",
    "validate_and_normalize_sctp_capabilities",
    "validate_and_normalize_sctp_parameters",
    "validate_and_normalize_sctp_stream_parameters",
]

# Handed out in this order to router codecs that do not ask for a payload type.
_DYNAMIC_PAYLOAD_TYPES: Final = (*range(100, 128), *range(96, 100))

_MIME_TYPE = re.compile(r"(audio|video)/(.+)", re.IGNORECASE)
_RTX_MIME_TYPE = re.compile(r".+/rtx", re.IGNORECASE)

# Pipe transports link two mediasoup routers: MID and bandwidth estimation are
# per-endpoint matters that must not cross them.
_URIS_NOT_PIPED: Final = frozenset({URI_MID, URI_ABS_SEND_TIME, URI_TRANSPORT_WIDE_CC})

_SSRC_RANGE: Final = (100_000_000, 999_999_999)

_Codec = TypeVar("_Codec", bound=Mapping[str, Any])


# --- validation -------------------------------------------------------------


def validate_and_normalize_rtp_capabilities(caps: object) -> RtpCapabilities:
    """Check endpoint or router capabilities and return a normalised copy."""
    result = _as_object(clone(caps), "caps")
    _normalize_rtp_capabilities(result)
    return cast(RtpCapabilities, result)


def validate_and_normalize_rtp_parameters(params: object) -> RtpParameters:
    """Check a producer's RTP parameters and return a normalised copy."""
    result = _as_object(clone(params), "params")
    _optional(result, "mid", _is_str, "params.mid is not a string")
    codecs = result.get("codecs")
    if not isinstance(codecs, list):
        raise InvalidInputError("missing params.codecs")
    for codec in codecs:
        _normalize_codec(codec)
    for ext in _list_member(result, "headerExtensions", "params.headerExtensions"):
        _normalize_header_extension_parameters(ext)
    for encoding in _list_member(result, "encodings", "params.encodings"):
        _normalize_encoding(encoding)
    if result.get("rtcp") is None:
        result["rtcp"] = {}
    _normalize_rtcp(_as_object(result["rtcp"], "params.rtcp"))
    _optional(result, "msid", _is_str, "params.msid is not a string")
    return cast(RtpParameters, result)


def validate_and_normalize_sctp_capabilities(caps: object) -> SctpCapabilities:
    """Check an endpoint's SCTP capabilities (``numStreams``) and return a copy.

    mediasoup 3.27 dropped this check (stream counts are no longer configurable),
    but mediasoup-client still sends the shape when creating transports.
    """
    result = _as_object(clone(caps), "caps")
    num_streams = result.get("numStreams")
    if not isinstance(num_streams, dict):
        raise InvalidInputError("missing caps.numStreams")
    for key in ("OS", "MIS"):
        if not _is_int(num_streams.get(key)):
            raise InvalidInputError(f"missing numStreams.{key}")
    return cast(SctpCapabilities, result)


def validate_and_normalize_sctp_parameters(params: object) -> SctpParameters:
    """Check SCTP association parameters before they go to a client, and return a copy.

    Not in mediasoup 3.27's ortc: the mandatory keys are the ones
    mediasoup-client insists on; the worker's newer keys are checked when present.
    """
    result = _as_object(clone(params), "params")
    for key in ("port", "OS", "MIS", "maxMessageSize"):
        if not _is_int(result.get(key)):
            raise InvalidInputError(f"missing params.{key}")
    for key in (
        "maxSendMessageSize",
        "maxReceiveMessageSize",
        "sendBufferSize",
        "perStreamSendQueueLimit",
        "maxReceiverWindowBufferSize",
    ):
        _optional(result, key, _is_int, f"invalid params.{key}")
    _optional(result, "isDataChannel", _is_bool, "invalid params.isDataChannel")
    return cast(SctpParameters, result)


def validate_and_normalize_sctp_stream_parameters(params: object) -> SctpStreamParameters:
    """Check a data channel's stream parameters and return a copy with ``ordered`` settled.

    A zero ``maxPacketLifeTime``/``maxRetransmits`` counts as unset, as it does
    in mediasoup and mediasoup-client.
    """
    result = _as_object(clone(params), "params")
    if not _is_int(result.get("streamId")):
        raise InvalidInputError("missing params.streamId")
    if not _is_uint16(result["streamId"]):
        raise InvalidInputError("invalid params.streamId")
    _optional(result, "maxPacketLifeTime", _is_uint16, "invalid params.maxPacketLifeTime")
    _optional(result, "maxRetransmits", _is_uint16, "invalid params.maxRetransmits")
    max_packet_life_time = result.get("maxPacketLifeTime")
    max_retransmits = result.get("maxRetransmits")
    if max_packet_life_time and max_retransmits:
        raise InvalidInputError("cannot provide both maxPacketLifeTime and maxRetransmits")
    partially_reliable = bool(max_packet_life_time or max_retransmits)
    ordered = result.get("ordered")
    if not isinstance(ordered, bool):
        result["ordered"] = not partially_reliable
    elif ordered and partially_reliable:
        raise InvalidInputError("cannot be ordered with maxPacketLifeTime or maxRetransmits")
    return cast(SctpStreamParameters, result)


def _normalize_rtp_capabilities(caps: dict[str, Any]) -> None:
    for codec in _list_member(caps, "codecs", "caps.codecs"):
        _normalize_codec_capability(codec)
    for ext in _list_member(caps, "headerExtensions", "caps.headerExtensions"):
        _normalize_header_extension(ext)


def _normalize_codec_capability(value: object) -> dict[str, Any]:
    codec = _as_object(value, "codec")
    kind = _codec_kind(codec)
    # The mime type is authoritative: a conflicting "kind" is overwritten, not rejected.
    codec["kind"] = kind
    _optional(codec, "preferredPayloadType", _is_int, "invalid codec.preferredPayloadType")
    _normalize_codec_common(codec, kind)
    return codec


def _normalize_codec(value: object) -> None:
    codec = _as_object(value, "codec")
    kind = _codec_kind(codec)
    if not _is_int(codec.get("payloadType")):
        raise InvalidInputError("missing codec.payloadType")
    if not _is_uint8(codec["payloadType"]):
        raise InvalidInputError("invalid codec.payloadType")
    _normalize_codec_common(codec, kind)


def _codec_kind(codec: dict[str, Any]) -> str:
    mime_type = codec.get("mimeType")
    if not isinstance(mime_type, str) or not mime_type:
        raise InvalidInputError("missing codec.mimeType")
    match = _MIME_TYPE.match(mime_type)
    if match is None:
        raise InvalidInputError("invalid codec.mimeType")
    return match[1].lower()


def _normalize_codec_common(codec: dict[str, Any], kind: str) -> None:
    if not _is_int(codec.get("clockRate")):
        raise InvalidInputError("missing codec.clockRate")
    if not _is_uint32(codec["clockRate"]):
        raise InvalidInputError("invalid codec.clockRate")
    if kind != "audio":
        codec.pop("channels", None)
    elif not _is_int(codec.get("channels")):
        codec["channels"] = 1
    elif not _is_uint8(codec["channels"]):
        raise InvalidInputError("invalid codec.channels")
    if not isinstance(codec.get("parameters"), dict):
        codec["parameters"] = {}
    parameters = codec["parameters"]
    _normalize_parameter_values(parameters, "codec")
    if "apt" in parameters and not _is_int(parameters["apt"]):
        raise InvalidInputError("invalid codec apt parameter")
    if not isinstance(codec.get("rtcpFeedback"), list):
        codec["rtcpFeedback"] = []
    for fb in codec["rtcpFeedback"]:
        _normalize_rtcp_feedback(fb)


def _normalize_parameter_values(parameters: dict[str, Any], owner: str) -> None:
    for key, value in parameters.items():
        if value is None:
            parameters[key] = ""
        elif not isinstance(value, str) and not _is_parameter_number(value):
            raise InvalidInputError(f"invalid {owner} parameter [key:{key}, value:{value!r}]")


def _normalize_rtcp_feedback(value: object) -> None:
    fb = _as_object(value, "fb")
    if not isinstance(fb.get("type"), str) or not fb["type"]:
        raise InvalidInputError("missing fb.type")
    if not isinstance(fb.get("parameter"), str):
        fb["parameter"] = ""


def _normalize_header_extension(value: object) -> None:
    ext = _as_object(value, "ext")
    if ext.get("kind") not in ("audio", "video"):
        raise InvalidInputError("invalid ext.kind")
    _require_uri(ext)
    if not _is_int(ext.get("preferredId")):
        raise InvalidInputError("missing ext.preferredId")
    _default_false(ext, "preferredEncrypt", "invalid ext.preferredEncrypt")
    if not ext.get("direction"):
        ext["direction"] = "sendrecv"
    elif not isinstance(ext["direction"], str):
        raise InvalidInputError("invalid ext.direction")


def _normalize_header_extension_parameters(value: object) -> None:
    ext = _as_object(value, "ext")
    _require_uri(ext)
    if not _is_int(ext.get("id")):
        raise InvalidInputError("missing ext.id")
    if not _is_uint8(ext["id"]):
        raise InvalidInputError("invalid ext.id")
    _default_false(ext, "encrypt", "invalid ext.encrypt")
    if not isinstance(ext.get("parameters"), dict):
        ext["parameters"] = {}
    _normalize_parameter_values(ext["parameters"], "header extension")


def _normalize_encoding(value: object) -> None:
    encoding = _as_object(value, "encoding")
    _optional(encoding, "ssrc", _is_uint32, "invalid encoding.ssrc")
    _optional(encoding, "rid", _is_str, "invalid encoding.rid")
    _optional(encoding, "codecPayloadType", _is_uint8, "invalid encoding.codecPayloadType")
    _optional(encoding, "rtx", _is_object, "invalid encoding.rtx")
    if "rtx" in encoding and not _is_int(encoding["rtx"].get("ssrc")):
        raise InvalidInputError("missing encoding.rtx.ssrc")
    if "rtx" in encoding and not _is_uint32(encoding["rtx"]["ssrc"]):
        raise InvalidInputError("invalid encoding.rtx.ssrc")
    if not isinstance(encoding.get("dtx"), bool):
        encoding["dtx"] = False
    _optional(encoding, "scalabilityMode", _is_str, "invalid encoding.scalabilityMode")
    _optional(encoding, "maxBitrate", _is_number, "invalid encoding.maxBitrate")
    if "maxBitrate" in encoding:
        # The worker takes whole bits per second, up to 64 bits.
        bitrate = encoding["maxBitrate"]
        if not (0 <= bitrate < 2**64 and float(bitrate).is_integer()):
            raise InvalidInputError("invalid encoding.maxBitrate")
        encoding["maxBitrate"] = int(bitrate)


def _normalize_rtcp(rtcp: dict[str, Any]) -> None:
    _optional(rtcp, "cname", _is_str, "invalid rtcp.cname")
    # mediasoup only speaks reduced-size RTCP, whatever the endpoint claims.
    rtcp["reducedSize"] = True


def _as_object(value: object, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInputError(f"{name} is not an object")
    return value


def _list_member(obj: dict[str, Any], key: str, name: str) -> list[Any]:
    """An optional list member, created empty when absent."""
    value = obj.get(key)
    if value is None:
        value = obj[key] = []
    elif not isinstance(value, list):
        raise InvalidInputError(f"{name} is not an array")
    return value


def _optional(obj: dict[str, Any], key: str, is_valid: Callable[[object], bool], message: str) -> None:
    """An optional member: dropped when null, else it must pass ``is_valid``."""
    if obj.get(key) is None:
        obj.pop(key, None)
    elif not is_valid(obj[key]):
        raise InvalidInputError(message)


def _default_false(obj: dict[str, Any], key: str, message: str) -> None:
    if obj.get(key) is None:
        obj[key] = False
    elif not isinstance(obj[key], bool):
        raise InvalidInputError(message)


def _require_uri(ext: dict[str, Any]) -> None:
    if not isinstance(ext.get("uri"), str) or not ext["uri"]:
        raise InvalidInputError("missing ext.uri")


def _is_int(value: object) -> TypeGuard[int]:
    # bool is an int in Python but not a number in JSON.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _unsigned(bits: int) -> Callable[[object], bool]:
    """Whether a value fits the worker's unsigned field of ``bits`` (its FlatBuffers width)."""
    top = (1 << bits) - 1
    return lambda value: _is_int(value) and 0 <= value <= top


_is_uint8 = _unsigned(8)
_is_uint16 = _unsigned(16)
_is_uint32 = _unsigned(32)

_INT32 = (-(2**31), 2**31 - 1)


def _is_parameter_number(value: object) -> bool:
    """Codec parameters travel as int32 (whole numbers) or double."""
    if _is_int(value):
        return _INT32[0] <= value <= _INT32[1]
    if isinstance(value, float):
        return math.isfinite(value) and (not value.is_integer() or _INT32[0] <= value <= _INT32[1])
    return False


def _is_str(value: object) -> bool:
    return isinstance(value, str)


def _is_bool(value: object) -> bool:
    return isinstance(value, bool)


def _is_object(value: object) -> bool:
    return isinstance(value, dict)


# --- router capabilities ----------------------------------------------------


def generate_router_rtp_capabilities(
    media_codecs: Sequence[RouterRtpCodecCapability] = (),
) -> RtpCapabilities:
    """Router capabilities for ``media_codecs``, each matched against the supported table.

    Payload types: the one the media codec asks for, else the table's static
    one, else the next free dynamic one. Every video codec gets an RTX codec
    with the next free dynamic payload type. The router offers every supported
    header extension.
    """
    if not isinstance(media_codecs, list | tuple):
        raise InvalidInputError("mediaCodecs must be a list")
    supported = _as_object(supported_rtp_capabilities(), "caps")
    _normalize_rtp_capabilities(supported)
    free_payload_types = list(_DYNAMIC_PAYLOAD_TYPES)
    codecs: list[dict[str, Any]] = []
    for media_codec in media_codecs:
        wanted = _normalize_codec_capability(clone(media_codec))
        matched = _first_match(wanted, supported["codecs"], strict=False)
        if matched is None:
            raise UnsupportedError(f"media codec not supported [mimeType:{wanted['mimeType']}]")
        codec = clone(matched)
        codec["preferredPayloadType"] = _router_payload_type(wanted, codec, free_payload_types)
        if any(c["preferredPayloadType"] == codec["preferredPayloadType"] for c in codecs):
            raise InvalidInputError("duplicated codec.preferredPayloadType")
        codec["parameters"] = {**codec["parameters"], **wanted["parameters"]}
        codecs.append(codec)
        if codec["kind"] == "video":
            codecs.append(_rtx_codec_for(codec, _take_dynamic_payload_type(free_payload_types)))
    return cast(RtpCapabilities, {"codecs": codecs, "headerExtensions": supported["headerExtensions"]})


def _router_payload_type(wanted: dict[str, Any], supported_codec: dict[str, Any], free: list[int]) -> int:
    requested = wanted.get("preferredPayloadType")
    if _is_int(requested):
        if requested in free:
            free.remove(requested)
        return requested
    static = supported_codec.get("preferredPayloadType")
    if _is_int(static):
        return static
    return _take_dynamic_payload_type(free)


def _take_dynamic_payload_type(free: list[int]) -> int:
    if not free:
        raise UnsupportedError("cannot allocate more dynamic codec payload types")
    return free.pop(0)


def _rtx_codec_for(codec: dict[str, Any], payload_type: int) -> dict[str, Any]:
    return {
        "kind": codec["kind"],
        "mimeType": f"{codec['kind']}/rtx",
        "preferredPayloadType": payload_type,
        "clockRate": codec["clockRate"],
        "parameters": {"apt": codec["preferredPayloadType"]},
        "rtcpFeedback": [],
    }


# --- producers --------------------------------------------------------------


def get_producer_rtp_parameters_mapping(params: RtpParameters, caps: RtpCapabilities) -> RtpMapping:
    """Map the producer's payload types and streams onto the router's.

    Also rewrites H264 ``profile-level-id`` in ``params`` to the negotiated answer
    (see the module docstring). Raises ``UnsupportedError`` for a codec the
    router lacks and ``InvalidInputError`` for an RTX codec without its media codec.
    """
    cap_codecs = caps.get("codecs", [])
    pairs: list[tuple[RtpCodecParameters, RtpCodecCapability]] = []
    cap_by_media_payload_type: dict[int, RtpCodecCapability] = {}
    for codec in params["codecs"]:
        if _is_rtx(codec):
            continue
        cap_codec = _first_match(codec, cap_codecs, strict=True)
        if cap_codec is None:
            raise UnsupportedError(
                f"unsupported codec [mimeType:{codec['mimeType']}, payloadType:{codec['payloadType']}]"
            )
        if codec["mimeType"].lower() == "video/h264":
            _adopt_h264_answer(codec, cap_codec)
        pairs.append((codec, cap_codec))
        cap_by_media_payload_type.setdefault(codec["payloadType"], cap_codec)

    for codec in params["codecs"]:
        if not _is_rtx(codec):
            continue
        apt = codec.get("parameters", {}).get("apt")
        cap_media_codec = cap_by_media_payload_type.get(apt) if _is_int(apt) else None
        if cap_media_codec is None:
            raise InvalidInputError(f"missing media codec found for RTX PT {codec['payloadType']}")
        cap_rtx_codec = _rtx_codec_of(cap_codecs, cap_media_codec["preferredPayloadType"])
        if cap_rtx_codec is None:
            raise UnsupportedError(
                f"no RTX codec for capability codec PT {cap_media_codec['preferredPayloadType']}"
            )
        pairs.append((codec, cap_rtx_codec))

    return {
        "codecs": [
            {"payloadType": codec["payloadType"], "mappedPayloadType": cap["preferredPayloadType"]}
            for codec, cap in pairs
        ],
        "encodings": _encoding_mappings(params.get("encodings", [])),
    }


def _adopt_h264_answer(codec: RtpCodecParameters, cap_codec: RtpCodecCapability) -> None:
    parameters = codec.setdefault("parameters", {})
    answer = h264.generate_profile_level_id_string_for_answer(parameters, cap_codec.get("parameters", {}))
    if answer is None:
        parameters.pop("profile-level-id", None)
    else:
        parameters["profile-level-id"] = answer


def _encoding_mappings(encodings: Sequence[RtpEncodingParameters]) -> list[EncodingMapping]:
    """Router-side SSRCs: consecutive from a random base, one per producer stream."""
    base_ssrc = _random_ssrc()
    mappings: list[EncodingMapping] = []
    for offset, encoding in enumerate(encodings):
        mapping: EncodingMapping = {"mappedSsrc": base_ssrc + offset}
        if "ssrc" in encoding:
            mapping["ssrc"] = encoding["ssrc"]
        if "rid" in encoding:
            mapping["rid"] = encoding["rid"]
        mappings.append(mapping)
    return mappings


def get_consumable_rtp_parameters(
    kind: str, params: RtpParameters, caps: RtpCapabilities, rtp_mapping: RtpMapping
) -> RtpParameters:
    """A producer's parameters restated in router terms, the template for all its consumers.

    Codecs take the router's payload types but keep the producer's codec
    parameters; header extensions are those of ``kind`` the router can send;
    encodings take their mapped SSRCs and lose rid/RTX.
    """
    mapped_payload_types = {m["payloadType"]: m["mappedPayloadType"] for m in rtp_mapping["codecs"]}
    cap_codecs = caps.get("codecs", [])
    codecs: list[RtpCodecParameters] = []
    for codec in params["codecs"]:
        if _is_rtx(codec):
            continue
        cap_codec = _codec_with_payload_type(cap_codecs, mapped_payload_types[codec["payloadType"]])
        consumable_codec = _codec_from_capability(cap_codec)
        consumable_codec["parameters"] = clone(codec.get("parameters", {}))
        codecs.append(consumable_codec)
        cap_rtx_codec = _rtx_codec_of(cap_codecs, cap_codec["preferredPayloadType"])
        if cap_rtx_codec is not None:
            codecs.append(_codec_from_capability(cap_rtx_codec))

    producer_uris = {ext["uri"] for ext in params.get("headerExtensions", [])}
    header_extensions: list[RtpHeaderExtensionParameters] = [
        {
            "uri": ext["uri"],
            "id": ext["preferredId"],
            "encrypt": ext.get("preferredEncrypt", False),
            "parameters": {},
        }
        for ext in caps.get("headerExtensions", [])
        if _consumers_may_get(ext, kind, producer_uris)
    ]

    encodings: list[RtpEncodingParameters] = []
    producer_encodings = params.get("encodings", [])
    for encoding, mapping in zip(producer_encodings, rtp_mapping["encodings"], strict=True):
        consumable_encoding = clone(encoding)
        consumable_encoding.pop("rid", None)
        consumable_encoding.pop("rtx", None)
        consumable_encoding.pop("codecPayloadType", None)
        consumable_encoding["ssrc"] = mapping["mappedSsrc"]
        encodings.append(consumable_encoding)

    producer_rtcp = params.get("rtcp", {})
    rtcp: RtcpParameters = {"cname": producer_rtcp["cname"]} if "cname" in producer_rtcp else {}
    rtcp["reducedSize"] = True

    consumable: RtpParameters = {
        "codecs": codecs,
        "headerExtensions": header_extensions,
        "encodings": encodings,
        "rtcp": rtcp,
    }
    if "msid" in params:
        consumable["msid"] = params["msid"]
    return consumable


def _codec_from_capability(cap_codec: RtpCodecCapability) -> RtpCodecParameters:
    codec: RtpCodecParameters = {
        "mimeType": cap_codec["mimeType"],
        "payloadType": cap_codec["preferredPayloadType"],
        "clockRate": cap_codec["clockRate"],
    }
    if "channels" in cap_codec:
        codec["channels"] = cap_codec["channels"]
    codec["parameters"] = clone(cap_codec.get("parameters", {}))
    codec["rtcpFeedback"] = clone(cap_codec.get("rtcpFeedback", []))
    return codec


def _consumers_may_get(ext: RtpHeaderExtension, kind: str, producer_uris: set[str]) -> bool:
    if ext["kind"] != kind or ext.get("direction") not in ("sendrecv", "sendonly"):
        return False
    # abs-capture-time is only relayed from the producer's own packets: announcing
    # it otherwise (e.g. on a producer fed by a pipe) would leave the worker
    # waiting for an extension that never comes.
    return ext["uri"] != URI_ABS_CAPTURE_TIME or ext["uri"] in producer_uris


# --- consumers --------------------------------------------------------------


def can_consume(consumable_params: RtpParameters, caps: RtpCapabilities, *, normalized: bool = False) -> bool:
    """Whether an endpoint with ``caps`` can receive a producer; InvalidInputError if caps are invalid.

    ``normalized``: ``caps`` already came out of :func:`validate_and_normalize_rtp_capabilities`.
    """
    remote = caps if normalized else validate_and_normalize_rtp_capabilities(caps)
    remote_codecs = remote.get("codecs", [])
    matching = [
        codec
        for codec in consumable_params["codecs"]
        if _first_match(codec, remote_codecs, strict=True) is not None
    ]
    return bool(matching) and not _is_rtx(matching[0])


def get_consumer_rtp_parameters(
    consumable_params: RtpParameters,
    remote_caps: RtpCapabilities,
    *,
    pipe: bool,
    enable_rtx: bool,
    normalized: bool = False,
) -> RtpParameters:
    """RTP parameters of one consumer, reduced to what the remote endpoint supports.

    ``normalized`` says ``remote_caps`` already came out of
    :func:`validate_and_normalize_rtp_capabilities` (and is not modified here), which saves
    validating the same capabilities again on every consume.

    Codecs, their RTCP feedback and header extensions are intersected with
    ``remote_caps`` (feedback comes from the remote side); only one of
    transport-cc and REMB is kept. A regular consumer gets a single encoding
    (simulcast becomes spatial layers of its scalability mode); a ``pipe``
    consumer keeps every encoding. Raises ``UnsupportedError`` when no media
    codec is left.
    """
    remote = remote_caps if normalized else validate_and_normalize_rtp_capabilities(remote_caps)
    remote_codecs = remote.get("codecs", [])
    codecs: list[RtpCodecParameters] = []
    for codec in clone(consumable_params["codecs"]):
        if not enable_rtx and _is_rtx(codec):
            continue
        remote_codec = _first_match(codec, remote_codecs, strict=True)
        if remote_codec is None:
            continue
        codec["rtcpFeedback"] = [
            fb for fb in remote_codec.get("rtcpFeedback", []) if enable_rtx or not _is_plain_nack(fb)
        ]
        codecs.append(codec)

    codecs, rtx_supported = _without_orphan_rtx(codecs)
    if not codecs or _is_rtx(codecs[0]):
        raise UnsupportedError("no compatible media codecs")

    remote_extensions = {(ext["preferredId"], ext["uri"]) for ext in remote.get("headerExtensions", [])}
    header_extensions = [
        clone(ext)
        for ext in consumable_params.get("headerExtensions", [])
        if (ext["id"], ext["uri"]) in remote_extensions
    ]
    _keep_one_congestion_control(codecs, {ext["uri"] for ext in header_extensions})

    consumable_encodings = consumable_params.get("encodings", [])
    encodings = (
        _pipe_encodings(consumable_encodings, with_rtx=rtx_supported)
        if pipe
        else [_single_consumer_encoding(consumable_encodings, with_rtx=rtx_supported)]
    )
    return _consumer_params(consumable_params, codecs, header_extensions, encodings)


def get_pipe_consumer_rtp_parameters(
    consumable_params: RtpParameters, *, enable_rtx: bool = False
) -> RtpParameters:
    """RTP parameters of a consumer on a pipe transport (router to router).

    Every encoding is kept; MID and bandwidth-estimation extensions and feedback
    are dropped; RTX and plain NACK survive only with ``enable_rtx``.
    """
    codecs: list[RtpCodecParameters] = []
    for codec in clone(consumable_params["codecs"]):
        if not enable_rtx and _is_rtx(codec):
            continue
        codec["rtcpFeedback"] = [
            fb for fb in codec.get("rtcpFeedback", []) if _piped_feedback(fb, enable_rtx)
        ]
        codecs.append(codec)

    header_extensions = [
        clone(ext)
        for ext in consumable_params.get("headerExtensions", [])
        if ext["uri"] not in _URIS_NOT_PIPED
    ]
    header_extensions.extend(_receive_only_extensions_to_pipe())
    header_extensions.sort(key=lambda ext: ext["id"])

    encodings = _pipe_encodings(consumable_params.get("encodings", []), with_rtx=enable_rtx)
    return _consumer_params(consumable_params, codecs, header_extensions, encodings)


def _without_orphan_rtx(
    codecs: list[RtpCodecParameters],
) -> tuple[list[RtpCodecParameters], bool]:
    """Drop RTX codecs whose media codec did not survive; report whether any RTX is left."""
    media_payload_types = {codec["payloadType"] for codec in codecs if not _is_rtx(codec)}
    kept = [
        codec
        for codec in codecs
        if not _is_rtx(codec) or codec.get("parameters", {}).get("apt") in media_payload_types
    ]
    return kept, any(_is_rtx(codec) for codec in kept)


def _keep_one_congestion_control(codecs: list[RtpCodecParameters], uris: set[str]) -> None:
    """Transport-cc if its extension was negotiated, else REMB if abs-send-time was, else none."""
    if URI_TRANSPORT_WIDE_CC in uris:
        unwanted = {"goog-remb"}
    elif URI_ABS_SEND_TIME in uris:
        unwanted = {"transport-cc"}
    else:
        unwanted = {"transport-cc", "goog-remb"}
    for codec in codecs:
        codec["rtcpFeedback"] = [fb for fb in codec.get("rtcpFeedback", []) if fb["type"] not in unwanted]


def _single_consumer_encoding(
    consumable_encodings: Sequence[RtpEncodingParameters], *, with_rtx: bool
) -> RtpEncodingParameters:
    ssrc = _random_ssrc()
    encoding: RtpEncodingParameters = {"ssrc": ssrc}
    if with_rtx:
        encoding["rtx"] = {"ssrc": ssrc + 1}
    # All producer encodings are assumed to share one scalability mode.
    mode = next((e["scalabilityMode"] for e in consumable_encodings if e.get("scalabilityMode")), None)
    if len(consumable_encodings) > 1:
        # The consumer sees simulcast streams as spatial layers of a single stream.
        temporal_layers = parse_scalability_mode(mode).temporal_layers
        mode = f"L{len(consumable_encodings)}T{temporal_layers}"
    if mode:
        encoding["scalabilityMode"] = mode
    max_bitrate = max((e.get("maxBitrate") or 0 for e in consumable_encodings), default=0)
    if max_bitrate:
        encoding["maxBitrate"] = max_bitrate
    return encoding


def _pipe_encodings(
    consumable_encodings: Sequence[RtpEncodingParameters], *, with_rtx: bool
) -> list[RtpEncodingParameters]:
    base_ssrc = _random_ssrc()
    base_rtx_ssrc = _random_ssrc()
    encodings: list[RtpEncodingParameters] = []
    for offset, consumable_encoding in enumerate(consumable_encodings):
        encoding = clone(consumable_encoding)
        encoding["ssrc"] = base_ssrc + offset
        if with_rtx:
            encoding["rtx"] = {"ssrc": base_rtx_ssrc + offset}
        else:
            encoding.pop("rtx", None)
        encodings.append(encoding)
    return encodings


def _consumer_params(
    consumable_params: RtpParameters,
    codecs: list[RtpCodecParameters],
    header_extensions: list[RtpHeaderExtensionParameters],
    encodings: list[RtpEncodingParameters],
) -> RtpParameters:
    params: RtpParameters = {
        "codecs": codecs,
        "headerExtensions": header_extensions,
        "encodings": encodings,
    }
    if "rtcp" in consumable_params:
        params["rtcp"] = clone(consumable_params["rtcp"])
    if "msid" in consumable_params:
        params["msid"] = consumable_params["msid"]
    return params


def _receive_only_extensions_to_pipe() -> list[RtpHeaderExtensionParameters]:
    """Dependency Descriptor is receive-only towards endpoints, so consumable parameters
    never carry it, yet the next router needs it to forward SVC/AV1 layers."""
    return [clone(ext) for ext in _RECEIVE_ONLY_PIPED]


def _receive_only_piped() -> tuple[RtpHeaderExtensionParameters, ...]:
    """Read once from the supported table (a deep copy of it per pipe consumer cost more than the
    rest of its parameters)."""
    return tuple(
        {
            "uri": ext["uri"],
            "id": ext["preferredId"],
            "encrypt": ext.get("preferredEncrypt", False),
            "parameters": {},
        }
        for ext in supported_rtp_capabilities().get("headerExtensions", [])
        if ext["uri"] == URI_DEPENDENCY_DESCRIPTOR and ext.get("direction") != "sendrecv"
    )


_RECEIVE_ONLY_PIPED = _receive_only_piped()


def _piped_feedback(fb: RtcpFeedback, enable_rtx: bool) -> bool:
    parameter = fb.get("parameter")
    return (
        (fb["type"] == "nack" and parameter == "pli")
        or (fb["type"] == "ccm" and parameter == "fir")
        or (enable_rtx and _is_plain_nack(fb))
    )


# --- shared helpers ---------------------------------------------------------


def _is_rtx(codec: Mapping[str, Any]) -> bool:
    return _RTX_MIME_TYPE.fullmatch(codec["mimeType"]) is not None


def _is_plain_nack(fb: RtcpFeedback) -> bool:
    """Generic NACK, the retransmission request (as opposed to "nack pli")."""
    return fb["type"] == "nack" and not fb.get("parameter")


def _first_match(codec: Mapping[str, Any], candidates: Iterable[_Codec], *, strict: bool) -> _Codec | None:
    return next((c for c in candidates if _match_codecs(codec, c, strict=strict)), None)


def _match_codecs(a: Mapping[str, Any], b: Mapping[str, Any], *, strict: bool) -> bool:
    """Whether two codecs are the same codec; ``strict`` also compares H264/VP9 profiles."""
    mime_type = a["mimeType"].lower()
    if mime_type != b["mimeType"].lower():
        return False
    if a["clockRate"] != b["clockRate"] or a.get("channels") != b.get("channels"):
        return False
    a_params: Mapping[str, Any] = a.get("parameters", {})
    b_params: Mapping[str, Any] = b.get("parameters", {})
    if mime_type == "audio/multiopus":
        return all(a_params.get(k) == b_params.get(k) for k in ("num_streams", "coupled_streams"))
    if mime_type == "video/h264" and strict:
        return (a_params.get("packetization-mode") or 0) == (
            b_params.get("packetization-mode") or 0
        ) and h264.is_same_profile(a_params, b_params)
    if mime_type == "video/vp9" and strict:
        return (a_params.get("profile-id") or 0) == (b_params.get("profile-id") or 0)
    return True


def _rtx_codec_of(cap_codecs: Iterable[RtpCodecCapability], payload_type: int) -> RtpCodecCapability | None:
    return next(
        (c for c in cap_codecs if _is_rtx(c) and c.get("parameters", {}).get("apt") == payload_type),
        None,
    )


def _codec_with_payload_type(
    cap_codecs: Iterable[RtpCodecCapability], payload_type: int
) -> RtpCodecCapability:
    for cap_codec in cap_codecs:
        if cap_codec["preferredPayloadType"] == payload_type:
            return cap_codec
    raise ValueError(f"RTP mapping names payload type {payload_type}, unknown to the router")


def _random_ssrc() -> int:
    return random.randrange(*_SSRC_RANGE)


def random_ssrc() -> int:
    """A new consumer SSRC, drawn as :func:`get_consumer_rtp_parameters` draws them."""
    return _random_ssrc()
