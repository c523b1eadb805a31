"""The WebSocket signaling contract as pydantic models.

These models are the single source of truth: requests are validated with them, and the AsyncAPI
document is generated from them. Field names are the wire names (camelCase), and mediasoup
structures (rtpParameters, dtlsParameters, ...) keep mediasoup's own shapes, so the official
mediasoup-client and pymediasoup work unchanged; those nested shapes are checked in depth by
the media controller's ORTC validation.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Id = Annotated[str, Field(min_length=1, max_length=128, description="An id the server gave out.")]
MediaObject = Annotated[
    dict[str, Any], Field(description="A mediasoup structure, in mediasoup's JSON shape.")
]
AppData = Annotated[dict[str, Any], Field(description="Opaque application data, echoed to other peers.")]


class ErrorCode(StrEnum):
    """Why a request failed. ``bad_request``: the request is malformed or does not fit (fix it);
    ``timeout``: the media server did not answer in time; what it creates late is closed (retry);
    ``worker_died``: the media server of the room stopped, the room is closed (rejoin);
    ``internal``: a server fault, logged on the server (report it)."""

    BAD_REQUEST = "bad_request"
    UNKNOWN_TYPE = "unknown_type"
    NOT_JOINED = "not_joined"
    ALREADY_JOINED = "already_joined"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    CANNOT_CONSUME = "cannot_consume"
    LIMIT_EXCEEDED = "limit_exceeded"
    TIMEOUT = "timeout"
    """The media worker did not answer in time; nothing was created (retrying is safe)."""
    WORKER_DIED = "worker_died"
    """The media worker serving the room stopped; the room is closed (``room-closed``)."""
    INTERNAL = "internal"
    UNAUTHORIZED = "unauthorized"
    UNAVAILABLE = "unavailable"
    """A cluster node cannot reach Redis or the node the request needs; what exists goes on (retry)."""


class Model(BaseModel):
    """Request payloads: unknown fields are refused, so typos fail loudly instead of silently."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Empty(Model):
    pass


# -- request data ------------------------------------------------------------------------------


class JoinRoom(Model):
    """The room comes from the token; nothing to send."""


class CreateTransport(Model):
    direction: Literal["send", "recv"]
    sctp: bool = False


class ConnectTransport(Model):
    transportId: Id
    dtlsParameters: MediaObject


class Produce(Model):
    transportId: Id
    kind: Literal["audio", "video"]
    rtpParameters: MediaObject
    appData: AppData = Field(default_factory=dict)


class Consume(Model):
    transportId: Id
    producerId: Id
    rtpCapabilities: MediaObject


class ConsumerRef(Model):
    consumerId: Id


class ProducerRef(Model):
    producerId: Id


class SetPreferredLayers(Model):
    consumerId: Id
    spatialLayer: Annotated[int, Field(ge=0, le=255)]
    temporalLayer: Annotated[int, Field(ge=0, le=255)] | None = None


class TransportRef(Model):
    transportId: Id


class ProduceData(Model):
    transportId: Id
    sctpStreamParameters: MediaObject
    label: Annotated[str, Field(max_length=1024)] = ""
    protocol: Annotated[str, Field(max_length=1024)] = ""
    appData: AppData = Field(default_factory=dict)


class ConsumeData(Model):
    transportId: Id
    dataProducerId: Id


class LeaveRoom(Model):
    pass


class Chat(Model):
    """A chat message to everyone in the room. Plain text: clients must show it as text, never as
    HTML. At most ``max_chat_chars`` characters (2000) and ``chat_per_second`` messages (1/s,
    bursts of ``chat_burst``, 5) per connection; beyond them, ``bad_request`` / ``limit_exceeded``
    and nothing is sent. The others get a ``chat`` event; the answer is the same message."""

    text: Annotated[
        str,
        Field(
            min_length=1,
            description="The message, plain text: newlines and tabs, no other control character.",
        ),
    ]


REQUESTS: dict[str, type[Model]] = {
    "join-room": JoinRoom,
    "create-transport": CreateTransport,
    "connect-transport": ConnectTransport,
    "produce": Produce,
    "consume": Consume,
    "resume-consumer": ConsumerRef,
    "pause-consumer": ConsumerRef,
    "close-producer": ProducerRef,
    "pause-producer": ProducerRef,
    "resume-producer": ProducerRef,
    "set-preferred-layers": SetPreferredLayers,
    "restart-ice": TransportRef,
    "produce-data": ProduceData,
    "consume-data": ConsumeData,
    "leave-room": LeaveRoom,
    "chat": Chat,
}
"""Request type -> model of its ``data``."""


# -- frames ------------------------------------------------------------------------------------


MAX_REQUEST_ID = 128


class RequestFrame(BaseModel):
    """Client -> server. ``data`` is checked apart (an object, then the model of ``type``), so
    that a bad ``data`` still gets a response to ``requestId``."""

    model_config = ConfigDict(extra="forbid")

    type: Annotated[str, Field(min_length=1, max_length=64)]
    requestId: Annotated[str, Field(min_length=1, max_length=MAX_REQUEST_ID)]
    data: Any = Field(default_factory=dict)


class ErrorBody(BaseModel):
    code: ErrorCode
    message: str


class OkResponse(BaseModel):
    type: Literal["response"] = "response"
    requestId: str
    ok: Literal[True] = True
    data: dict[str, Any]


class ErrorResponse(BaseModel):
    type: Literal["response"] = "response"
    requestId: str
    ok: Literal[False] = False
    error: ErrorBody


# -- response data (documented; built as plain dicts on the hot path) --------------------------


class PeerInfo(BaseModel):
    userId: str
    userName: str


class ProducerInfo(BaseModel):
    producerId: str
    userId: str
    userName: str
    kind: Literal["audio", "video"]
    appData: dict[str, Any]


class IceServer(BaseModel):
    """A W3C ``RTCIceServer``: pass the list as is to ``createSendTransport``/``createRecvTransport``."""

    urls: list[str] = Field(
        description="`turn:HOST:PORT?transport=udp`, `...?transport=tcp`, `turns:` (TLS) or `stun:` URLs."
    )
    username: str | None = Field(
        default=None, description="TURN REST username `<expiry>:<userId>` (expiry in Unix seconds)."
    )
    credential: str | None = Field(
        default=None, description="base64(HMAC-SHA1(TURN secret, username)); valid until the expiry."
    )


class JoinRoomResult(BaseModel):
    roomId: str
    userId: str
    rtpCapabilities: dict[str, Any]
    peers: list[PeerInfo]
    producers: list[ProducerInfo]
    iceServers: list[IceServer] = Field(
        default_factory=list,
        description="STUN/TURN servers for this peer's transports, with its own ephemeral TURN "
        "credential; `[]` when the server runs no TURN and has none configured.",
    )
    recordings: list[str] = Field(
        default_factory=list,
        description="Ids of the recordings running in this room now (`[]`: not recorded); later "
        "changes arrive as `recording-started` / `recording-stopped`.",
    )


class CreateTransportResult(BaseModel):
    id: str
    iceParameters: dict[str, Any]
    iceCandidates: list[dict[str, Any]]
    dtlsParameters: dict[str, Any]
    sctpParameters: dict[str, Any] | None = None


class IdResult(BaseModel):
    id: str


class ConsumeResult(BaseModel):
    id: str
    producerId: str
    kind: Literal["audio", "video"]
    rtpParameters: dict[str, Any]
    type: str
    producerPaused: bool


class RestartIceResult(BaseModel):
    iceParameters: dict[str, Any]


class ConsumeDataResult(BaseModel):
    id: str
    dataProducerId: str
    sctpStreamParameters: dict[str, Any]
    label: str
    protocol: str


class ChatMessage(BaseModel):
    """A chat message from a peer of the room (the sender's answer to ``chat`` is the same).
    ``text`` is plain text: show it as text, never as HTML."""

    userId: str
    userName: str = Field(description="The sender's display name, from its token.")
    text: str
    ts: int = Field(description="When the server relayed it: Unix time in milliseconds.")


RESULTS: dict[str, type[BaseModel]] = {
    "join-room": JoinRoomResult,
    "create-transport": CreateTransportResult,
    "produce": IdResult,
    "consume": ConsumeResult,
    "restart-ice": RestartIceResult,
    "produce-data": IdResult,
    "consume-data": ConsumeDataResult,
    "chat": ChatMessage,
}
"""Request type -> model of the response ``data`` (types absent here answer ``{}``)."""


# -- events (server -> client) -----------------------------------------------------------------


class PeerJoined(BaseModel):
    userId: str
    userName: str


class PeerLeft(BaseModel):
    userId: str


class NewProducer(ProducerInfo):
    pass


class ProducerEvent(BaseModel):
    producerId: str


class ConsumerClosed(BaseModel):
    consumerId: str
    producerId: str


class NewDataProducer(BaseModel):
    dataProducerId: str
    userId: str
    label: str


class RoomClosed(BaseModel):
    """``kicked``: an admin removed this peer (the connection is then closed with 4003); the
    others: the whole room is closed."""

    reason: Literal["closed", "worker-died", "shutdown", "admin", "kicked"]


class ProducerModerated(BaseModel):
    """To the owner: an admin muted (paused for every consumer) or unmuted one of its producers.
    While muted, its own ``resume-producer`` is refused with ``forbidden``."""

    producerId: str
    by: Literal["admin"] = "admin"


class ActiveSpeaker(BaseModel):
    """The dominant speaker changed (audio levels measured by the worker)."""

    userId: str
    producerId: str


class RecordingStarted(BaseModel):
    """An admin started recording this room (files are written on the server)."""

    recordingId: str
    startedAt: float = Field(description="Unix seconds.")


class RecordingStopped(BaseModel):
    """A recording of this room ended: `stopped` (asked to, or `disk-full`, `room-closed`,
    `shutdown`: see `reason`) or `failed` (its recorder died; `reason` says how)."""

    recordingId: str
    state: Literal["stopped", "failed"]
    reason: str | None = None


class ErrorEvent(BaseModel):
    code: ErrorCode
    message: str


EVENTS: dict[str, type[BaseModel]] = {
    "peer-joined": PeerJoined,
    "peer-left": PeerLeft,
    "new-producer": NewProducer,
    "producer-closed": ProducerEvent,
    "producer-paused": ProducerEvent,
    "producer-resumed": ProducerEvent,
    "consumer-closed": ConsumerClosed,
    "new-data-producer": NewDataProducer,
    "producer-muted": ProducerModerated,
    "producer-unmuted": ProducerModerated,
    "room-closed": RoomClosed,
    "active-speaker": ActiveSpeaker,
    "chat": ChatMessage,
    "recording-started": RecordingStarted,
    "recording-stopped": RecordingStopped,
    "error": ErrorEvent,
}
"""Event type -> model of its ``data``."""
