"""Typed shapes of the RTP/SCTP dicts exchanged with mediasoup-client and the worker.

Keys are mediasoup's own camelCase JSON keys on purpose: these dicts travel to
clients and to the worker unchanged, so renaming them would only add a
translation layer. ``NotRequired`` marks what clients may omit; the ortc
validators fill in those defaults.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

MediaKind = Literal["audio", "video"]
RtpHeaderExtensionDirection = Literal["sendrecv", "sendonly", "recvonly", "inactive"]

ParameterValue = str | int | float
"""SDP fmtp-style values: mediasoup accepts strings and numbers only."""

CodecParameters = dict[str, ParameterValue]


class RtcpFeedback(TypedDict):
    type: str
    parameter: NotRequired[str]


class _CodecCapabilityBase(TypedDict):
    kind: MediaKind
    mimeType: str
    clockRate: int
    channels: NotRequired[int]
    parameters: NotRequired[CodecParameters]
    rtcpFeedback: NotRequired[list[RtcpFeedback]]


class RouterRtpCodecCapability(_CodecCapabilityBase):
    """A codec as given in a router's ``mediaCodecs``: the payload type is optional."""

    preferredPayloadType: NotRequired[int]


class RtpCodecCapability(_CodecCapabilityBase):
    preferredPayloadType: int


class RtpHeaderExtension(TypedDict):
    kind: MediaKind
    uri: str
    preferredId: int
    preferredEncrypt: NotRequired[bool]
    direction: NotRequired[RtpHeaderExtensionDirection]


class RtpCapabilities(TypedDict):
    codecs: NotRequired[list[RtpCodecCapability]]
    headerExtensions: NotRequired[list[RtpHeaderExtension]]


class RouterRtpCapabilities(TypedDict):
    """Capabilities whose codecs may lack a payload type (the supported-codecs table)."""

    codecs: NotRequired[list[RouterRtpCodecCapability]]
    headerExtensions: NotRequired[list[RtpHeaderExtension]]


class RtpCodecParameters(TypedDict):
    mimeType: str
    payloadType: int
    clockRate: int
    channels: NotRequired[int]
    parameters: NotRequired[CodecParameters]
    rtcpFeedback: NotRequired[list[RtcpFeedback]]


class RtpHeaderExtensionParameters(TypedDict):
    uri: str
    id: int
    encrypt: NotRequired[bool]
    parameters: NotRequired[CodecParameters]


class RtxParameters(TypedDict):
    ssrc: int


class RtpEncodingParameters(TypedDict):
    ssrc: NotRequired[int]
    rid: NotRequired[str]
    codecPayloadType: NotRequired[int]
    rtx: NotRequired[RtxParameters]
    dtx: NotRequired[bool]
    scalabilityMode: NotRequired[str]
    maxBitrate: NotRequired[int]


class RtcpParameters(TypedDict):
    cname: NotRequired[str]
    reducedSize: NotRequired[bool]


class RtpParameters(TypedDict):
    mid: NotRequired[str]
    codecs: list[RtpCodecParameters]
    headerExtensions: NotRequired[list[RtpHeaderExtensionParameters]]
    encodings: NotRequired[list[RtpEncodingParameters]]
    rtcp: NotRequired[RtcpParameters]
    msid: NotRequired[str]


class CodecMapping(TypedDict):
    payloadType: int
    mappedPayloadType: int


class EncodingMapping(TypedDict):
    ssrc: NotRequired[int]
    rid: NotRequired[str]
    mappedSsrc: int


class RtpMapping(TypedDict):
    """How a producer's payload types and streams map onto the router's (sent to the worker)."""

    codecs: list[CodecMapping]
    encodings: list[EncodingMapping]


class NumSctpStreams(TypedDict):
    OS: int
    MIS: int


class SctpCapabilities(TypedDict):
    numStreams: NumSctpStreams


class SctpParameters(TypedDict):
    port: int
    OS: int
    MIS: int
    maxMessageSize: int
    maxSendMessageSize: NotRequired[int]
    maxReceiveMessageSize: NotRequired[int]
    sendBufferSize: NotRequired[int]
    perStreamSendQueueLimit: NotRequired[int]
    maxReceiverWindowBufferSize: NotRequired[int]
    isDataChannel: NotRequired[bool]


class SctpStreamParameters(TypedDict):
    streamId: int
    ordered: NotRequired[bool]
    maxPacketLifeTime: NotRequired[int]
    maxRetransmits: NotRequired[int]
