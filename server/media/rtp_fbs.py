"""RTP parameters and mappings between mediasoup's JSON shapes and the worker's FlatBuffers types."""

from __future__ import annotations

from typing import Any

from sfuctl.server.media.errors import InvalidInputError
from sfuctl.server.media.fbs.RtpParameters.Boolean import BooleanT
from sfuctl.server.media.fbs.RtpParameters.CodecMapping import CodecMappingT
from sfuctl.server.media.fbs.RtpParameters.Double import DoubleT
from sfuctl.server.media.fbs.RtpParameters.EncodingMapping import EncodingMappingT
from sfuctl.server.media.fbs.RtpParameters.Integer32 import Integer32T
from sfuctl.server.media.fbs.RtpParameters.Integer32Array import Integer32ArrayT
from sfuctl.server.media.fbs.RtpParameters.MediaKind import MediaKind
from sfuctl.server.media.fbs.RtpParameters.Parameter import ParameterT
from sfuctl.server.media.fbs.RtpParameters.RtcpFeedback import RtcpFeedbackT
from sfuctl.server.media.fbs.RtpParameters.RtcpParameters import RtcpParametersT
from sfuctl.server.media.fbs.RtpParameters.RtpCodecParameters import RtpCodecParametersT
from sfuctl.server.media.fbs.RtpParameters.RtpEncodingParameters import RtpEncodingParametersT
from sfuctl.server.media.fbs.RtpParameters.RtpHeaderExtensionParameters import RtpHeaderExtensionParametersT
from sfuctl.server.media.fbs.RtpParameters.RtpHeaderExtensionUri import RtpHeaderExtensionUri
from sfuctl.server.media.fbs.RtpParameters.RtpMapping import RtpMappingT
from sfuctl.server.media.fbs.RtpParameters.RtpParameters import RtpParametersT
from sfuctl.server.media.fbs.RtpParameters.Rtx import RtxT
from sfuctl.server.media.fbs.RtpParameters.String import StringT as StringValueT
from sfuctl.server.media.fbs.RtpParameters.Type import Type as RtpType
from sfuctl.server.media.fbs.RtpParameters.Value import Value
from sfuctl.server.media.fbs_chunks import cached
from sfuctl.server.media.fbs_plain import parameters_to_dict, text

HEADER_EXTENSION_URIS: dict[str, int] = {
    "urn:ietf:params:rtp-hdrext:sdes:mid": RtpHeaderExtensionUri.Mid,
    "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id": RtpHeaderExtensionUri.RtpStreamId,
    "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id": RtpHeaderExtensionUri.RepairRtpStreamId,
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time": RtpHeaderExtensionUri.AbsSendTime,
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01": (
        RtpHeaderExtensionUri.TransportWideCcDraft01
    ),
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level": RtpHeaderExtensionUri.SsrcAudioLevel,
    "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension": (
        RtpHeaderExtensionUri.DependencyDescriptor
    ),
    "urn:3gpp:video-orientation": RtpHeaderExtensionUri.VideoOrientation,
    "urn:ietf:params:rtp-hdrext:toffset": RtpHeaderExtensionUri.TimeOffset,
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time": RtpHeaderExtensionUri.AbsCaptureTime,
    "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay": RtpHeaderExtensionUri.PlayoutDelay,
    "urn:mediasoup:params:rtp-hdrext:packet-id": RtpHeaderExtensionUri.MediasoupPacketId,
}
HEADER_EXTENSION_URI_NAMES = {v: k for k, v in HEADER_EXTENSION_URIS.items()}

KINDS = {"audio": MediaKind.AUDIO, "video": MediaKind.VIDEO}
RTP_TYPES = {
    "simple": RtpType.SIMPLE,
    "simulcast": RtpType.SIMULCAST,
    "svc": RtpType.SVC,
    "pipe": RtpType.PIPE,
}
RTP_TYPE_NAMES = {v: k for k, v in RTP_TYPES.items()}


def kind_from_fbs(value: int) -> str:
    return "audio" if value == MediaKind.AUDIO else "video"


def _parameter(name: str, value: Any) -> ParameterT:
    p = ParameterT()
    p.name = name
    if isinstance(value, bool):
        p.valueType, p.value = Value.Boolean, BooleanT()
        p.value.value = 1 if value else 0
    elif isinstance(value, int):
        p.valueType, p.value = Value.Integer32, Integer32T()
        p.value.value = value
    elif isinstance(value, float):
        if value.is_integer():
            p.valueType, p.value = Value.Integer32, Integer32T()
            p.value.value = int(value)
        else:
            p.valueType, p.value = Value.Double, DoubleT()
            p.value.value = value
    elif isinstance(value, str):
        p.valueType, p.value = Value.String, _string_value(value)
    elif isinstance(value, list):
        p.valueType, p.value = Value.Integer32Array, Integer32ArrayT()
        p.value.value = [int(v) for v in value]
    else:
        raise InvalidInputError(f"invalid parameter type [key:{name!r}, value:{value!r}]")
    return p


def _string_value(value: str) -> StringValueT:
    s = StringValueT()
    s.value = value
    return s


def parameters_to_fbs(parameters: dict[str, Any] | None) -> list[ParameterT]:
    return [_parameter(k, v) for k, v in (parameters or {}).items()]


def encoding_to_fbs(encoding: dict[str, Any]) -> RtpEncodingParametersT:
    e = RtpEncodingParametersT()
    e.ssrc = encoding.get("ssrc") or None
    e.rid = encoding.get("rid")
    e.codecPayloadType = encoding.get("codecPayloadType")
    if encoding.get("rtx"):
        e.rtx = RtxT()
        e.rtx.ssrc = encoding["rtx"]["ssrc"]
    e.dtx = bool(encoding.get("dtx", False))
    e.scalabilityMode = encoding.get("scalabilityMode")
    e.maxBitrate = encoding.get("maxBitrate")
    return e


def codec_to_fbs(codec: dict[str, Any]) -> RtpCodecParametersT:
    c = RtpCodecParametersT()
    c.mimeType = codec["mimeType"]
    c.payloadType = codec["payloadType"]
    c.clockRate = codec["clockRate"]
    c.channels = codec.get("channels")
    c.parameters = parameters_to_fbs(codec.get("parameters"))
    c.rtcpFeedback = []
    for fb in codec.get("rtcpFeedback") or []:
        f = RtcpFeedbackT()
        f.type = fb["type"]
        f.parameter = fb.get("parameter")
        c.rtcpFeedback.append(f)
    return c


def header_extension_to_fbs(ext: dict[str, Any]) -> RtpHeaderExtensionParametersT:
    h = RtpHeaderExtensionParametersT()
    try:
        h.uri = HEADER_EXTENSION_URIS[ext["uri"]]
    except KeyError:
        raise InvalidInputError(f"invalid RtpHeaderExtensionUri: {ext['uri']}") from None
    h.id = ext["id"]
    h.encrypt = bool(ext.get("encrypt", False))
    h.parameters = parameters_to_fbs(ext.get("parameters"))
    return h


def rtp_parameters_to_fbs(params: dict[str, Any]) -> RtpParametersT:
    """Codecs and header extensions are the same for most producers and all consumers of one
    producer, so they are packed once and spliced (fbs_chunks); encodings carry per-stream SSRCs."""
    t = RtpParametersT()
    t.mid = params.get("mid")
    t.msid = params.get("msid")
    t.codecs = [cached("codec", codec, codec_to_fbs) for codec in params["codecs"]]
    t.headerExtensions = [
        cached("headerExtension", ext, header_extension_to_fbs)
        for ext in params.get("headerExtensions") or []
    ]
    t.encodings = [encoding_to_fbs(e) for e in params.get("encodings") or []]
    rtcp = params.get("rtcp") or {}
    t.rtcp = RtcpParametersT()
    t.rtcp.cname = rtcp.get("cname")
    t.rtcp.reducedSize = bool(rtcp.get("reducedSize", True))
    return t


def rtp_mapping_to_fbs(mapping: dict[str, Any]) -> RtpMappingT:
    t = RtpMappingT()
    t.codecs = []
    for codec in mapping["codecs"]:
        c = CodecMappingT()
        c.payloadType = codec["payloadType"]
        c.mappedPayloadType = codec["mappedPayloadType"]
        t.codecs.append(c)
    t.encodings = []
    for encoding in mapping["encodings"]:
        e = EncodingMappingT()
        e.rid = encoding.get("rid")
        e.ssrc = encoding.get("ssrc")
        e.mappedSsrc = encoding["mappedSsrc"]
        t.encodings.append(e)
    return t


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def rtp_parameters_from_fbs(t: Any) -> dict[str, Any]:
    """The inverse of :func:`rtp_parameters_to_fbs`, for dumps (absent fields are left out)."""
    codecs = []
    for c in t.codecs or []:
        codecs.append(
            _drop_none(
                {
                    "mimeType": text(c.mimeType),
                    "payloadType": c.payloadType,
                    "clockRate": c.clockRate,
                    "channels": c.channels,
                    "parameters": parameters_to_dict(c.parameters),
                    "rtcpFeedback": [
                        _drop_none({"type": text(f.type), "parameter": text(f.parameter)})
                        for f in c.rtcpFeedback or []
                    ],
                }
            )
        )
    header_extensions = [
        {
            "uri": HEADER_EXTENSION_URI_NAMES.get(h.uri, str(h.uri)),
            "id": h.id,
            "encrypt": h.encrypt,
            "parameters": parameters_to_dict(h.parameters),
        }
        for h in t.headerExtensions or []
    ]
    encodings = [
        _drop_none(
            {
                "ssrc": e.ssrc,
                "rid": text(e.rid) or None,
                "codecPayloadType": e.codecPayloadType,
                "rtx": {"ssrc": e.rtx.ssrc} if e.rtx else None,
                "dtx": e.dtx,
                "scalabilityMode": text(e.scalabilityMode) or None,
                "maxBitrate": e.maxBitrate,
            }
        )
        for e in t.encodings or []
    ]
    rtcp = None
    if t.rtcp:
        rtcp = _drop_none({"cname": text(t.rtcp.cname) or None, "reducedSize": t.rtcp.reducedSize})
    return _drop_none(
        {
            "mid": text(t.mid) or None,
            "codecs": codecs,
            "headerExtensions": header_extensions,
            "encodings": encodings,
            "rtcp": rtcp,
            "msid": text(t.msid) or None,
        }
    )
