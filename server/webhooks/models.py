"""The webhook events as pydantic models: what the OpenAPI ``webhooks`` section documents.

Events are built as plain dicts on the hot path (see ``events``); these models describe them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EventType = Literal[
    "room-started",
    "room-finished",
    "participant-joined",
    "participant-left",
    "track-published",
    "track-unpublished",
    "recording-started",
    "recording-finished",
]

EVENT_OBJECTS: dict[str, tuple[str, ...]] = {
    "room-started": ("room",),
    "room-finished": ("room",),
    "participant-joined": ("room", "participant"),
    "participant-left": ("room", "participant"),
    "track-published": ("room", "participant", "track"),
    "track-unpublished": ("room", "participant", "track"),
    "recording-started": ("room", "recording"),
    "recording-finished": ("room", "recording"),
}
"""Which objects each event carries."""

EVENT_SUMMARIES: dict[str, str] = {
    "room-started": "A room opened (its first peer joined).",
    "room-finished": "A room closed; `room.reason` says why (closed: empty, admin, shutdown, worker-died).",
    "participant-joined": "A peer joined a room.",
    "participant-left": "A peer left a room (left, disconnected, kicked, or the room closed).",
    "track-published": "A peer started a producer.",
    "track-unpublished": "A producer closed (by its peer, an admin, or because the peer left).",
    "recording-started": "An admin started recording a room.",
    "recording-finished": "A recording ended: `recording.state` is `stopped` or `failed`, `recording.reason` "
    "says why (admin, disk-full, room-closed, shutdown, or what failed), `recording.files` names its files.",
}


class WebhookModel(BaseModel):
    model_config = ConfigDict(extra="allow")


class WebhookRoom(WebhookModel):
    id: str
    createdAt: float = Field(description="Unix seconds.")
    reason: str | None = Field(default=None, description="room-finished only: why the room closed.")


class WebhookParticipant(WebhookModel):
    userId: str
    userName: str


class WebhookTrack(WebhookModel):
    id: str = Field(description="The producer id.")
    kind: Literal["audio", "video"]
    userId: str
    appData: dict[str, Any] = Field(default_factory=dict)


class WebhookRecording(WebhookModel):
    id: str
    state: Literal["recording", "stopped", "failed"]
    startedAt: float | None = Field(default=None, description="Unix seconds.")
    stoppedAt: float | None = Field(default=None, description="recording-finished only: unix seconds.")
    reason: str | None = Field(default=None, description="recording-finished only: why it ended.")
    files: list[str] | None = Field(
        default=None, description="recording-finished only: its file names (`GET /recordings/{id}`)."
    )


class WebhookEvent(WebhookModel):
    """The body of every webhook POST. Retries resend the same body: deduplicate by ``id``."""

    id: str = Field(description="Unique per event, the same across its delivery attempts.")
    event: EventType
    createdAt: float = Field(description="When it happened, unix seconds.")
    room: WebhookRoom | None = None
    participant: WebhookParticipant | None = None
    track: WebhookTrack | None = None
    recording: WebhookRecording | None = None
