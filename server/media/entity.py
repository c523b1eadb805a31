"""What every object of the Worker -> Router -> Transport -> Producer/Consumer tree shares.

Each object has an id, sends requests through its worker's channel with its own id as handler id,
closes exactly once (children first), and refuses use after close with InvalidStateError.
Events are emitted on the object itself (for its owner) and lifecycle events on ``observer``
(for monitors such as the dashboard), as mediasoup does.
"""

from __future__ import annotations

from typing import Any

from sfuctl.server.media.channel import Channel, LateAnswerHandler
from sfuctl.server.media.emitter import EventEmitter
from sfuctl.server.media.errors import InvalidInputError, InvalidStateError


class Entity(EventEmitter):
    kind_name = "object"

    def __init__(self, entity_id: str, channel: Channel, app_data: dict[str, Any] | None) -> None:
        super().__init__()
        if app_data is not None and not isinstance(app_data, dict):
            raise InvalidInputError("if given, app_data must be a dict")
        self.id = entity_id
        self.channel = channel
        self.closed = False
        self.app_data: dict[str, Any] = app_data if app_data is not None else {}
        self.observer = EventEmitter()

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        return f"<{type(self).__name__} {self.id}{state}>"

    def _announce(self, event: str, *args: Any) -> None:
        """Emit to the owner (the object's listeners) and to monitors (its observer) alike."""
        self.emit(event, *args)
        self.observer.emit(event, *args)

    def _check_open(self) -> None:
        if self.closed:
            raise InvalidStateError(f"{self.kind_name} {self.id} is closed")

    async def _request(
        self, method: int, body_type: int = 0, body: Any = None, on_late: LateAnswerHandler | None = None
    ) -> Any:
        """A request addressed to this object (its id is the handler id); creates pass ``on_late``."""
        self._check_open()
        return await self.channel.request(method, self.id, body_type, body, on_late=on_late)

    def _listen(self) -> None:
        self.channel.add_handler(self.id, self._on_notification)

    def _on_notification(self, event: int, body: Any) -> None:
        """Subclasses with worker notifications override this."""

    def _set_closed(self) -> bool:
        """Mark closed and stop listening; False if it already was (close runs once)."""
        if self.closed:
            return False
        self.closed = True
        self.channel.remove_handler(self.id)
        return True


class TransportChild(Entity):
    """What lives in a transport (producers and consumers, media and data): the transport closes
    it with ``transport_closed()``, the application with ``close()``, which tells the worker."""

    close_method: int
    """The TRANSPORT_CLOSE_* request method; subclasses also implement ``close_request_for``."""
    close_body_type: int

    def __init__(self, entity_id: str, transport: Any, app_data: dict[str, Any] | None) -> None:
        super().__init__(entity_id, transport.channel, app_data)
        self.transport_id: str = transport.id

    @classmethod
    def close_request_for(cls, object_id: str) -> Any:
        raise NotImplementedError

    @classmethod
    def closer(cls, transport: Any, object_id: str) -> LateAnswerHandler:
        """Closes ``object_id`` in the worker, with no object here: what a create's late answer needs."""
        channel, transport_id = transport.channel, transport.id
        return lambda: channel.fire(
            cls.close_method, transport_id, cls.close_body_type, cls.close_request_for(object_id)
        )

    def close(self) -> None:
        if not self._set_closed():
            return
        self.channel.fire(
            self.close_method, self.transport_id, self.close_body_type, self.close_request_for(self.id)
        )
        self.emit("@close")
        self.observer.emit("close")

    def transport_closed(self) -> None:
        if not self._set_closed():
            return
        self.emit("transportclose")
        self.observer.emit("close")
