"""RTP parameters and mappings between mediasoup's JSON shapes and the worker's tables (as codec dicts)."""

from __future__ import annotations

from typing import Any

from sfuctl.server.media.errors import InvalidInputError
from sfuctl.server.media.fbs.RtpParameters.MediaKind import MediaKind
from sfuctl.server.media.fbs.RtpParameters.RtpHeaderExtensionUri import RtpHeaderExtensionUri
from sfuctl.server.media.fbs.RtpParameters.Type import Type as RtpType
from sfuctl.server.media.fbs.RtpParameters.Value import Value
from sfuctl.server.media.fbs_plain import parameters_to_dict

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


def _parameter(name: str, value: Any) -> dict[str, Any]:
    """One RTP parameter as the worker's (name, union value) table."""
    if isinstance(value, bool):
        return {"name": name, "valueType": Value.Boolean, "value": {"value": 1 if value else 0}}
    if isinstance(value, int):
        return {"name": name, "valueType": Value.Integer32, "value": {"value": value}}
    if isinstance(value, float):
        if value.is_integer():
            return {"name": name, "valueType": Value.Integer32, "value": {"value": int(value)}}
        return {"name": name, "valueType": Value.Double, "value": {"value": value}}
    if isinstance(value, str):
        return {"name": name, "valueType": Value.String, "value": {"value": value}}
    if isinstance(value, list):
        return {"name": name, "valueType": Value.Integer32Array, "value": {"value": [int(v) for v in value]}}
    raise InvalidInputError(f"invalid parameter type [key:{name!r}, value:{value!r}]")


def parameters_to_fbs(parameters: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [_parameter(k, v) for k, v in (parameters or {}).items()]


def encoding_to_fbs(encoding: dict[str, Any]) -> dict[str, Any]:
    rtx = encoding.get("rtx")
    return {
        "ssrc": encoding.get("ssrc") or None,
        "rid": encoding.get("rid"),
        "codecPayloadType": encoding.get("codecPayloadType"),
        "rtx": {"ssrc": rtx["ssrc"]} if rtx else None,
        "dtx": bool(encoding.get("dtx", False)),
        "scalabilityMode": encoding.get("scalabilityMode"),
        "maxBitrate": encoding.get("maxBitrate"),
    }


def codec_to_fbs(codec: dict[str, Any]) -> dict[str, Any]:
    return {
        "mimeType": codec["mimeType"],
        "payloadType": codec["payloadType"],
        "clockRate": codec["clockRate"],
        "channels": codec.get("channels"),
        "parameters": parameters_to_fbs(codec.get("parameters")),
        "rtcpFeedback": [
            {"type": fb["type"], "parameter": fb.get("parameter")} for fb in codec.get("rtcpFeedback") or []
        ],
    }


def header_extension_to_fbs(ext: dict[str, Any]) -> dict[str, Any]:
    try:
        uri = HEADER_EXTENSION_URIS[ext["uri"]]
    except KeyError:
        raise InvalidInputError(f"invalid RtpHeaderExtensionUri: {ext['uri']}") from None
    return {
        "uri": uri,
        "id": ext["id"],
        "encrypt": bool(ext.get("encrypt", False)),
        "parameters": parameters_to_fbs(ext.get("parameters")),
    }


def rtp_parameters_to_fbs(params: dict[str, Any]) -> dict[str, Any]:
    rtcp = params.get("rtcp") or {}
    return {
        "mid": params.get("mid"),
        "msid": params.get("msid"),
        "codecs": [codec_to_fbs(codec) for codec in params["codecs"]],
        "headerExtensions": [header_extension_to_fbs(ext) for ext in params.get("headerExtensions") or []],
        "encodings": [encoding_to_fbs(e) for e in params.get("encodings") or []],
        "rtcp": {"cname": rtcp.get("cname"), "reducedSize": bool(rtcp.get("reducedSize", True))},
    }


def rtp_mapping_to_fbs(mapping: dict[str, Any]) -> dict[str, Any]:
    return {
        "codecs": [
            {"payloadType": c["payloadType"], "mappedPayloadType": c["mappedPayloadType"]}
            for c in mapping["codecs"]
        ],
        "encodings": [
            {"rid": e.get("rid"), "ssrc": e.get("ssrc"), "mappedSsrc": e["mappedSsrc"]}
            for e in mapping["encodings"]
        ],
    }


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def rtp_parameters_from_fbs(t: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`rtp_parameters_to_fbs`, for dumps (absent fields are left out)."""
    codecs = [
        _drop_none(
            {
                "mimeType": c["mimeType"],
                "payloadType": c["payloadType"],
                "clockRate": c["clockRate"],
                "channels": c["channels"],
                "parameters": parameters_to_dict(c["parameters"]),
                "rtcpFeedback": [
                    _drop_none({"type": f["type"], "parameter": f["parameter"]})
                    for f in c["rtcpFeedback"] or []
                ],
            }
        )
        for c in t["codecs"] or []
    ]
    header_extensions = [
        {
            "uri": HEADER_EXTENSION_URI_NAMES.get(h["uri"], str(h["uri"])),
            "id": h["id"],
            "encrypt": h["encrypt"],
            "parameters": parameters_to_dict(h["parameters"]),
        }
        for h in t["headerExtensions"] or []
    ]
    encodings = [
        _drop_none(
            {
                "ssrc": e["ssrc"],
                "rid": e["rid"] or None,
                "codecPayloadType": e["codecPayloadType"],
                "rtx": {"ssrc": e["rtx"]["ssrc"]} if e["rtx"] else None,
                "dtx": e["dtx"],
                "scalabilityMode": e["scalabilityMode"] or None,
                "maxBitrate": e["maxBitrate"],
            }
        )
        for e in t["encodings"] or []
    ]
    rtcp = None
    if t["rtcp"]:
        rtcp = _drop_none({"cname": t["rtcp"]["cname"] or None, "reducedSize": t["rtcp"]["reducedSize"]})
    return _drop_none(
        {
            "mid": t["mid"] or None,
            "codecs": codecs,
            "headerExtensions": header_extensions,
            "encodings": encodings,
            "rtcp": rtcp,
            "msid": t["msid"] or None,
        }
    )
