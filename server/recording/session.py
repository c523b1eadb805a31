"""One recording of a room: its state, its tracks while it runs, and the files they wrote.

States: ``recording`` -> ``stopped`` (asked to, or the disk floor, the room closing, shutdown:
``reason`` says which) or ``failed`` (a recorder died or did not start; ``reason`` says which).
Files stay on disk in both end states until the recording is deleted.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sfuctl.server.recording.track import TrackFile, TrackRecorder

if TYPE_CHECKING:
    from sfuctl.server.signaling.room import Room

State = Literal["recording", "stopped", "failed"]


@dataclass(eq=False)
class Recording:
    id: str
    room_id: str
    started_at: float
    whole_room: bool
    """Every current and future producer of the room (no ``producerIds`` given)."""
    state: State = "recording"
    stopped_at: float | None = None
    reason: str | None = None
    files: list[TrackFile] = field(default_factory=list)
    tracks: dict[str, TrackRecorder] = field(default_factory=dict)
    """Producer id -> its running recorder (while the recording runs)."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Producer id -> why it is not recorded (its codec, say)."""
    room: Room | None = None
    """The room it records, while it runs (not a later room of the same name)."""
    announced: bool = False
    """Its peers were told ``recording-started`` (then they are told how it ends)."""
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once it has ended and its files are final."""

    @property
    def active(self) -> bool:
        return self.state == "recording"

    def file(self, name: str) -> TrackFile | None:
        return next((f for f in self.files if f.name == name), None)

    def summary(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "roomId": self.room_id,
            "state": self.state,
            "startedAt": self.started_at,
            "stoppedAt": self.stopped_at,
            "files": len(self.files),
            "bytes": sum(f.bytes for f in self.files),
        }
        if self.reason is not None:
            data["reason"] = self.reason
        return data

    def detail(self) -> dict[str, Any]:
        data = {**self.summary(), "wholeRoom": self.whole_room, "files": [f.to_dict() for f in self.files]}
        if self.skipped:
            data["skipped"] = [{"producerId": pid, "reason": why} for pid, why in self.skipped.items()]
        return data

    def metadata(self) -> dict[str, Any]:
        """What is kept on disk (``recording.json``)."""
        return self.detail()

    @classmethod
    def from_metadata(cls, data: dict[str, Any]) -> Recording:
        """A recording found on disk; one still 'recording' there was cut short by a crash."""
        files = [
            TrackFile(
                name=str(f["name"]), producer_id=str(f["producerId"]), user_id=str(f["userId"]),
                kind=str(f["kind"]), mime_type=str(f.get("mimeType", "")), started_at=float(f["startedAt"]),
                ended_at=f.get("endedAt"), bytes=int(f.get("bytes", 0)), duration_ms=f.get("durationMs"),
            )
            for f in data.get("files", [])
        ]  # fmt: skip
        recording = cls(
            id=str(data["id"]),
            room_id=str(data["roomId"]),
            started_at=float(data["startedAt"]),
            whole_room=bool(data.get("wholeRoom", True)),
            state=data["state"] if data.get("state") in ("stopped", "failed") else "failed",
            stopped_at=data.get("stoppedAt"),
            reason=data.get("reason") if data.get("state") in ("stopped", "failed") else "interrupted",
            files=files,
        )
        recording.ended.set()
        return recording
