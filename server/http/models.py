"""The REST API as pydantic models: the one place requests are validated and the OpenAPI schemas come from.

Request models refuse unknown fields and coercion (a typo or a number for a name fails loudly);
response models allow extra fields, so the server may add fields without breaking the contract.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from sfuctl.server.auth import DisplayName
from sfuctl.server.recording.store import FILE_NAME_PATTERN, RECORDING_ID_PATTERN

ROOM_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"

RoomId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=ROOM_ID_PATTERN,
        description="Room name: 1-64 of A-Z a-z 0-9 _ . -",
        examples=["lobby"],
    ),
]
UserName = Annotated[DisplayName, Field(examples=["Ada"])]


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ResponseModel(BaseModel):
    model_config = ConfigDict(extra="allow")


# -- errors ------------------------------------------------------------------------------------


class ErrorCode(StrEnum):
    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    TOO_MANY_REQUESTS = "too_many_requests"
    CONFLICT = "conflict"
    INSUFFICIENT_STORAGE = "insufficient_storage"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


class ErrorDetail(ResponseModel):
    code: ErrorCode
    message: str


class ErrorResponse(ResponseModel):
    """Every non-2xx answer of the REST API has this shape."""

    error: ErrorDetail


# -- login -------------------------------------------------------------------------------------


class LoginRequest(RequestModel):
    userName: UserName
    roomId: RoomId


class LoginResponse(ResponseModel):
    token: str = Field(description="HS256 JWT for the WebSocket: connect to `/?token=<token>`.")
    userId: str = Field(description="Generated, URL-safe id of this user in the room.")
    expiresAt: int = Field(description="When the token expires, in unix seconds.")
    url: str | None = Field(
        default=None,
        description="In a cluster (`--redis`): where to connect the WebSocket (`ws(s)://…/?token=`): "
        "the node with most of the room's peers while its CPU is below 85 % of a core (the room "
        "stays on one node, no media between nodes), else the least-loaded node (fewest peers, "
        "then CPU), where the room spans nodes. Any node accepts any room, so this is advice. "
        "Absent on a single node.",
    )


# -- health ------------------------------------------------------------------------------------


class WorkerHealth(ResponseModel):
    pid: int
    alive: bool
    routers: int
    transports: int
    cpuUser: float | None = Field(
        default=None,
        description="User CPU time in milliseconds (the worker's getrusage); absent for a stuck worker.",
    )
    cpuSystem: float | None = Field(default=None, description="System CPU time in milliseconds.")
    maxRss: int | None = Field(
        default=None,
        description="Peak resident memory in KiB, as the worker reports it (includes what it inherited).",
    )
    rss: int | None = Field(default=None, description="Current resident memory in bytes (from /proc).")


class TurnHealth(ResponseModel):
    running: bool
    pid: int | None = Field(description="coturn's pid while it runs.")
    restarts: int = Field(description="Times the supervisor restarted coturn after it died.")
    port: int = Field(description="UDP and TCP listener.")
    tlsPort: int | None = Field(description="TLS listener (turns:), when a certificate is configured.")
    relayPorts: str = Field(description="Relay port range, `min-max`.")


class ClusterHealth(ResponseModel):
    node: str = Field(description="This node's id.")
    epoch: str = Field(description="This process's incarnation (new at each start).")
    url: str = Field(description="This node's public URL.")
    redis: Literal["up", "down"] = Field(description="Whether Redis answers; down: degraded.")
    rooms: int = Field(description="Rooms on this node linked to the cluster.")
    nodes: int = Field(description="Live nodes of the cluster at the last heartbeat, this one included.")
    pipeTransports: int = Field(description="Pipe transports to and from other nodes.")
    pipedIn: int = Field(description="Producers of other nodes piped into this one.")
    pipedOut: int = Field(description="Producers of this node piped to other nodes.")


class Health(ResponseModel):
    status: Literal["ok", "degraded", "draining"]
    version: str
    uptime: float = Field(description="Seconds since the server started.")
    workers: list[WorkerHealth]
    rooms: int
    peers: int
    turn: TurnHealth | None = Field(
        default=None,
        description="The managed TURN server (`--turn`); absent without it. Not running: degraded.",
    )
    cluster: ClusterHealth | None = Field(
        default=None, description="This node in its cluster (`--redis`); absent on a single node."
    )


# -- rooms -------------------------------------------------------------------------------------


class RoomNode(ResponseModel):
    node: str
    peers: int


class RoomSummary(ResponseModel):
    roomId: str
    peers: int
    producers: int
    consumers: int
    workerPid: int
    createdAt: float = Field(description="Unix seconds.")
    routers: int = Field(default=1, description="Routers of the room, one per worker it spreads to.")
    nodes: list[RoomNode] | None = Field(
        default=None, description="In a cluster: every node the room is on, with its peers there."
    )


class ClusterRoomSummary(ResponseModel):
    roomId: str
    peers: int = Field(description="Peers on all its nodes.")
    nodes: list[RoomNode]


class RoomList(ResponseModel):
    rooms: list[RoomSummary] = Field(description="The rooms on this node.")
    elsewhere: list[ClusterRoomSummary] | None = Field(
        default=None, description="In a cluster: its rooms that are not on this node."
    )


class ProducerScore(ResponseModel):
    encodingIdx: int
    ssrc: int
    rid: str | None = None
    score: int = Field(description="0 (unusable) to 10 (perfect), per encoding.")


class ProducerDetail(ResponseModel):
    id: str
    kind: Literal["audio", "video"]
    paused: bool
    muted: bool = Field(default=False, description="Paused by an admin; the owner cannot resume it.")
    score: list[ProducerScore]


class ConsumerScore(ResponseModel):
    score: int
    producerScore: int
    producerScores: list[int]


class ConsumerDetail(ResponseModel):
    id: str
    producerId: str
    kind: Literal["audio", "video"]
    paused: bool
    producerPaused: bool
    score: ConsumerScore


class TransportDetail(ResponseModel):
    id: str
    iceState: str
    dtlsState: str
    bitrateIn: int = Field(description="Bits per second received on this transport.")
    bitrateOut: int = Field(description="Bits per second sent on this transport.")


class RouterDetail(ResponseModel):
    """One router of a room: a room spreads over workers when one router holds
    ``consumers_per_router`` consumers; producers reach the other routers through pipes."""

    routerId: str
    workerPid: int
    main: bool = Field(description="The room's first router, which follows the active speaker.")
    peers: int = Field(description="Peers whose transports are on this router.")
    consumers: int = Field(description="Consumers in this router, pipe consumers included.")
    pipeTransports: int = Field(description="Pipe transports to the room's other routers.")


class PeerDetail(ResponseModel):
    userId: str
    userName: str
    workerPid: int | None = Field(
        default=None, description="The worker its transports are on; null before its first transport."
    )
    producers: list[ProducerDetail]
    consumers: list[ConsumerDetail]
    transports: list[TransportDetail]
    bitrateIn: int
    bitrateOut: int


class RoomDetail(ResponseModel):
    roomId: str
    workerPid: int = Field(description="The worker of the room's main router.")
    createdAt: float = Field(description="Unix seconds.")
    peers: list[PeerDetail]
    routers: list[RouterDetail] = Field(default_factory=list, description="Main router first.")
    bitrateIn: int = Field(description="Sum over the room's transports, bits per second.")
    bitrateOut: int = Field(description="Sum over the room's transports, bits per second.")
    activeSpeaker: str | None = Field(
        default=None, description="userId of the dominant speaker (audio), if anyone has spoken yet."
    )


# -- nodes -------------------------------------------------------------------------------------


class NodeWorker(ResponseModel):
    pid: int
    routers: int = 0
    transports: int = 0


class NodeLoad(ResponseModel):
    peers: int = Field(default=0, description="Peers connected to this node.")
    rooms: int = Field(default=0, description="Rooms open on this node.")
    consumers: int = Field(
        default=0, description="Consumers in this node's workers, pipe consumers included."
    )
    cpu: float = Field(
        default=0.0, description="CPU percent of the node's controller process (100 = one core)."
    )
    workers: list[NodeWorker] = Field(default_factory=list)


class NodeInfo(ResponseModel):
    node: str = Field(description="The node's id (`--node-id`; on a single node its host name if none).")
    epoch: str | None = Field(default=None, description="The node process's incarnation (new at each start).")
    url: str | None = Field(default=None, description="Where clients reach the node.")
    address: str | None = Field(default=None, description="The IP other nodes send it media to.")
    thisNode: bool = Field(description="True for the node that answered this request.")
    load: NodeLoad = Field(
        description="In a cluster: as of the node's last heartbeat (every TTL/3); on a single node: now."
    )


class NodeList(ResponseModel):
    cluster: bool = Field(description="True when the server is in a cluster (`--redis`).")
    nodes: list[NodeInfo] = Field(
        description="The cluster's live nodes, by id; on a single node, this node alone."
    )


# -- moderation --------------------------------------------------------------------------------

ObjectId = Annotated[
    str,
    Field(min_length=1, max_length=128, description="A user or producer id, as the room detail shows it."),
]


class ProducerModeration(ResponseModel):
    """The producer's state after an admin muted or unmuted it."""

    producerId: str
    userId: str = Field(description="The producer's owner.")
    muted: bool = Field(description="True while an admin holds it paused for every consumer.")
    paused: bool


# -- recording ---------------------------------------------------------------------------------

RecordingId = Annotated[
    str,
    Field(pattern=RECORDING_ID_PATTERN, description="A recording's id.", examples=["rec-3f2a9c1e5b7d0a46"]),
]
FileName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=FILE_NAME_PATTERN,
        description="A file of the recording, as its `files` list names it.",
        examples=["video-6c1b0e7e-3f8a-4c1d-9a57-0d1c2b3a4f5e.webm"],
    ),
]
RecordingState = Literal["recording", "stopped", "failed"]


class StartRecording(RequestModel):
    """The body is optional: without `producerIds`, every producer of the room is recorded, the
    present ones and those that start later."""

    producerIds: list[ObjectId] | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Only these producers of the room (each must exist and be VP8, VP9, H264 or Opus).",
    )


class RecordingFile(ResponseModel):
    name: str = Field(description="`<kind>-<producerId>.webm` (`.mkv` for H264): one file per track.")
    producerId: str
    userId: str = Field(description="The producer's owner.")
    kind: Literal["audio", "video"]
    mimeType: str = Field(description="The recorded codec (`video/VP8`, `video/VP9`, `audio/opus`).")
    startedAt: float = Field(description="Unix seconds.")
    endedAt: float | None = Field(default=None, description="Unix seconds; null while it is written.")
    bytes: int
    durationMs: int | None = Field(
        default=None, description="As the file states it (ffprobe); null while written or if cut short."
    )


class SkippedTrack(ResponseModel):
    producerId: str
    reason: str


class RecordingStartResult(ResponseModel):
    id: str
    roomId: str
    state: Literal["recording"]
    startedAt: float = Field(description="Unix seconds: when the recorders took the first packets.")


class RecordingSummary(ResponseModel):
    id: str
    roomId: str
    state: RecordingState
    startedAt: float = Field(description="Unix seconds.")
    stoppedAt: float | None = None
    reason: str | None = Field(
        default=None,
        description="Why it ended: `admin`, `disk-full`, `room-closed`, `shutdown`, `interrupted` "
        "(the server stopped without finishing it), or what failed.",
    )
    files: int
    bytes: int


class RecordingList(ResponseModel):
    recordings: list[RecordingSummary]


class RecordingDetail(ResponseModel):
    id: str
    roomId: str
    state: RecordingState
    startedAt: float
    stoppedAt: float | None = None
    reason: str | None = None
    wholeRoom: bool = Field(description="Records every producer of the room, later ones included.")
    files: list[RecordingFile]
    skipped: list[SkippedTrack] = Field(default_factory=list, description="Producers it could not record.")


REQUEST_MODELS: tuple[type[BaseModel], ...] = (LoginRequest, StartRecording)
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    ErrorResponse, LoginResponse, Health, RoomList, RoomDetail, NodeList, ProducerModeration,
    RecordingStartResult, RecordingList, RecordingDetail,
)  # fmt: skip
