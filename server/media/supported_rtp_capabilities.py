"""Codecs and RTP header extensions the mediasoup worker supports.

Routers are built from this table: a router media codec must match one of these
codecs, and the router offers exactly these header extensions. Entries are kept
sparse (as mediasoup declares them); ``ortc`` fills in the defaults.
"""

from __future__ import annotations

import copy
from typing import Final

from sfuctl.server.media.rtp_types import (
    CodecParameters,
    MediaKind,
    RouterRtpCapabilities,
    RouterRtpCodecCapability,
    RtcpFeedback,
    RtpHeaderExtension,
    RtpHeaderExtensionDirection,
)

URI_MID: Final = "urn:ietf:params:rtp-hdrext:sdes:mid"
URI_RID: Final = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
URI_REPAIRED_RID: Final = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
URI_ABS_SEND_TIME: Final = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
URI_TRANSPORT_WIDE_CC: Final = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
URI_AUDIO_LEVEL: Final = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
URI_DEPENDENCY_DESCRIPTOR: Final = (
    "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension"
)
URI_VIDEO_ORIENTATION: Final = "urn:3gpp:video-orientation"
URI_TOFFSET: Final = "urn:ietf:params:rtp-hdrext:toffset"
URI_ABS_CAPTURE_TIME: Final = "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time"
URI_PLAYOUT_DELAY: Final = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"
URI_PACKET_ID: Final = "urn:mediasoup:params:rtp-hdrext:packet-id"


def _feedback(*entries: str) -> list[RtcpFeedback]:
    """Feedback list from "type" or "type parameter" strings, e.g. "nack pli"."""
    result: list[RtcpFeedback] = []
    for entry in entries:
        fb_type, _, parameter = entry.partition(" ")
        result.append({"type": fb_type, "parameter": parameter} if parameter else {"type": fb_type})
    return result


def _opus_like_feedback() -> list[RtcpFeedback]:
    return _feedback("nack", "transport-cc")


def _video_feedback() -> list[RtcpFeedback]:
    return _feedback("nack", "nack pli", "ccm fir", "goog-remb", "transport-cc")


def _audio(
    mime_type: str,
    clock_rate: int,
    *,
    payload_type: int | None = None,
    channels: int | None = None,
    parameters: CodecParameters | None = None,
    feedback: list[RtcpFeedback] | None = None,
) -> RouterRtpCodecCapability:
    codec: RouterRtpCodecCapability = {"kind": "audio", "mimeType": mime_type, "clockRate": clock_rate}
    if payload_type is not None:
        codec["preferredPayloadType"] = payload_type
    if channels is not None:
        codec["channels"] = channels
    if parameters is not None:
        codec["parameters"] = parameters
    if feedback is not None:
        codec["rtcpFeedback"] = feedback
    return codec


def _video(mime_type: str, parameters: CodecParameters | None = None) -> RouterRtpCodecCapability:
    codec: RouterRtpCodecCapability = {
        "kind": "video",
        "mimeType": mime_type,
        "clockRate": 90000,
        "rtcpFeedback": _video_feedback(),
    }
    if parameters is not None:
        codec["parameters"] = parameters
    return codec


def _multiopus(channels: int, mapping: str, streams: int, coupled: int) -> RouterRtpCodecCapability:
    return _audio(
        "audio/multiopus",
        48000,
        channels=channels,
        parameters={"channel_mapping": mapping, "num_streams": streams, "coupled_streams": coupled},
        feedback=_opus_like_feedback(),
    )


def _ext(
    kind: MediaKind, uri: str, preferred_id: int, direction: RtpHeaderExtensionDirection
) -> RtpHeaderExtension:
    return {
        "kind": kind,
        "uri": uri,
        "preferredId": preferred_id,
        "preferredEncrypt": False,
        "direction": direction,
    }


def _tcc() -> list[RtcpFeedback]:
    return _feedback("transport-cc")


_SUPPORTED: Final[RouterRtpCapabilities] = {
    "codecs": [
        _audio("audio/opus", 48000, channels=2, feedback=_opus_like_feedback()),
        _multiopus(4, "0,1,2,3", 2, 2),  # quad
        _multiopus(6, "0,4,1,2,3,5", 4, 2),  # 5.1
        _multiopus(8, "0,6,1,2,3,4,5,7", 5, 3),  # 7.1
        _audio("audio/PCMU", 8000, payload_type=0, feedback=_tcc()),
        _audio("audio/PCMA", 8000, payload_type=8, feedback=_tcc()),
        _audio("audio/ISAC", 32000, feedback=_tcc()),
        _audio("audio/ISAC", 16000, feedback=_tcc()),
        _audio("audio/G722", 8000, payload_type=9, feedback=_tcc()),
        _audio("audio/iLBC", 8000, feedback=_tcc()),
        _audio("audio/SILK", 24000, feedback=_tcc()),
        _audio("audio/SILK", 16000, feedback=_tcc()),
        _audio("audio/SILK", 12000, feedback=_tcc()),
        _audio("audio/SILK", 8000, feedback=_tcc()),
        _audio("audio/CN", 32000, payload_type=13),
        _audio("audio/CN", 16000, payload_type=13),
        _audio("audio/CN", 8000, payload_type=13),
        _audio("audio/telephone-event", 48000),
        _audio("audio/telephone-event", 32000),
        _audio("audio/telephone-event", 16000),
        _audio("audio/telephone-event", 8000),
        _video("video/VP8"),
        _video("video/VP9"),
        _video("video/H264", {"level-asymmetry-allowed": 1}),
        _video("video/AV1", {}),
    ],
    "headerExtensions": [
        _ext("audio", URI_MID, 1, "sendrecv"),
        _ext("video", URI_MID, 1, "sendrecv"),
        _ext("video", URI_RID, 2, "recvonly"),
        _ext("video", URI_REPAIRED_RID, 3, "recvonly"),
        _ext("audio", URI_ABS_SEND_TIME, 4, "sendrecv"),
        _ext("video", URI_ABS_SEND_TIME, 4, "sendrecv"),
        # Audio only takes transport-wide-cc when receiving.
        _ext("audio", URI_TRANSPORT_WIDE_CC, 5, "recvonly"),
        _ext("video", URI_TRANSPORT_WIDE_CC, 5, "sendrecv"),
        _ext("audio", URI_AUDIO_LEVEL, 6, "sendrecv"),
        _ext("video", URI_DEPENDENCY_DESCRIPTOR, 7, "recvonly"),
        _ext("video", URI_VIDEO_ORIENTATION, 8, "sendrecv"),
        _ext("video", URI_TOFFSET, 9, "sendrecv"),
        _ext("audio", URI_ABS_CAPTURE_TIME, 10, "sendrecv"),
        _ext("video", URI_ABS_CAPTURE_TIME, 10, "sendrecv"),
        _ext("audio", URI_PLAYOUT_DELAY, 11, "sendrecv"),
        _ext("video", URI_PLAYOUT_DELAY, 11, "sendrecv"),
        _ext("audio", URI_PACKET_ID, 12, "sendrecv"),
        _ext("video", URI_PACKET_ID, 12, "sendrecv"),
    ],
}


def supported_rtp_capabilities() -> RouterRtpCapabilities:
    """A private copy of the table, so no caller can alter what later routers see."""
    return copy.deepcopy(_SUPPORTED)
