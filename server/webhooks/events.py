"""Building webhook events, and the emitter interface signaling calls where things happen.

Signaling only calls ``EventSink.emit``, which must return at once: the webhook dispatcher
queues the event and delivers it on its own tasks.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Protocol

from sfuctl.server.webhooks.models import EventType


class EventSink(Protocol):
    def emit(self, event: EventType, **objects: dict[str, Any]) -> None:
        """Record that ``event`` happened; never blocks, never raises."""


class NoEvents:
    """The sink when no webhook is configured."""

    def emit(self, event: EventType, **objects: dict[str, Any]) -> None:
        return None


def envelope(
    event: EventType, objects: dict[str, dict[str, Any]], now: float | None = None
) -> dict[str, Any]:
    """The event as it is POSTed: a unique id, its type, when, and its objects."""
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "event": event,
        "createdAt": time.time() if now is None else now,
        **objects,
    }


def room_object(room_id: str, created_at: float, reason: str | None = None) -> dict[str, Any]:
    room: dict[str, Any] = {"id": room_id, "createdAt": created_at}
    if reason is not None:
        room["reason"] = reason
    return room


def participant_object(user_id: str, user_name: str) -> dict[str, Any]:
    return {"userId": user_id, "userName": user_name}


def track_object(producer_id: str, kind: str, user_id: str, app_data: dict[str, Any]) -> dict[str, Any]:
    return {"id": producer_id, "kind": kind, "userId": user_id, "appData": app_data}
