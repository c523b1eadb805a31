"""A peer: one authenticated user in one room, and the media objects it owns.

Every id a peer sends is looked up in its own maps first, so a peer can only act on what it
created; the room decides whether a foreign id is 'forbidden' (another peer's) or 'not_found'.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from sfuctl.server.auth import Grants
from sfuctl.server.signaling.outbox import Outbox

if TYPE_CHECKING:
    from sfuctl.server.media.consumer import Consumer
    from sfuctl.server.media.data_consumer import DataConsumer
    from sfuctl.server.media.data_producer import DataProducer
    from sfuctl.server.media.producer import Producer
    from sfuctl.server.media.webrtc_transport import WebRtcTransport
    from sfuctl.server.signaling.room import Room

log = logging.getLogger("sfuctl.signaling")


@dataclass(eq=False)
class Peer:
    user_id: str
    user_name: str
    grants: Grants
    outbox: Outbox
    room: Room | None = None
    transports: dict[str, WebRtcTransport] = field(default_factory=dict)
    producers: dict[str, Producer] = field(default_factory=dict)
    consumers: dict[str, Consumer] = field(default_factory=dict)
    data_producers: dict[str, DataProducer] = field(default_factory=dict)
    data_consumers: dict[str, DataConsumer] = field(default_factory=dict)
    muted: set[str] = field(default_factory=set)
    """Producer ids an admin muted: the peer may not resume them itself until unmuted."""
    closed: bool = False
    on_overflow: Callable[[], None] | None = None

    @property
    def joined(self) -> bool:
        return self.room is not None

    def send(self, frame: dict[str, Any]) -> None:
        """Queue a frame for this peer's writer; a peer too slow to drain its outbox is dropped.

        Never raises: it runs inside broadcasts, where one peer's failure must not stop the rest.
        """
        if self.closed:
            return
        try:
            data = orjson.dumps(frame)
        except TypeError as error:  # input is checked at the edge; this is a bug, not a client's doing
            log.error("event not sent, cannot serialise it: %s", error, extra=self.fields)
            return
        self.send_encoded(data)

    def send_encoded(self, data: bytes) -> None:
        """:meth:`send` for a frame already serialised (one event to a whole room is encoded once)."""
        if self.closed:
            return
        if not self.outbox.put(data):
            log.warning(
                "peer is not reading its events (%s frames, %s bytes queued); dropping it",
                len(self.outbox), self.outbox.bytes, extra=self.fields,
            )  # fmt: skip
            self.closed = True
            if self.on_overflow is not None:
                self.on_overflow()

    @property
    def fields(self) -> dict[str, Any]:
        """Structured log fields of lines about this peer."""
        return {"room": self.room.id if self.room is not None else None, "user": self.user_id}

    def event(self, event_type: str, data: dict[str, Any]) -> None:
        self.send({"type": event_type, "data": data})

    def close_media(self) -> None:
        """Close every transport (which closes its producers and consumers first)."""
        for transport in list(self.transports.values()):
            transport.close()
        self.transports.clear()
        self.producers.clear()
        self.muted.clear()
        self.consumers.clear()
        self.data_producers.clear()
        self.data_consumers.clear()
