"""A small synchronous event emitter with mediasoup's 'safe emit' semantics.

A listener that raises is logged and never breaks the emitter or the other listeners: one
application bug must not tear down a worker's bookkeeping.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("sfuctl.events")

Listener = Callable[..., Any]


class EventEmitter:
    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = {}

    def on(self, event: str, listener: Listener) -> Listener:
        self._listeners.setdefault(event, []).append(listener)
        return listener

    def once(self, event: str, listener: Listener) -> Listener:
        def wrapper(*args: Any) -> None:
            self.off(event, wrapper)
            listener(*args)

        return self.on(event, wrapper)

    def off(self, event: str, listener: Listener) -> None:
        listeners = self._listeners.get(event)
        if listeners and listener in listeners:
            listeners.remove(listener)

    def remove_all_listeners(self, event: str | None = None) -> None:
        if event is None:
            self._listeners.clear()
        else:
            self._listeners.pop(event, None)

    def listener_count(self, event: str) -> int:
        return len(self._listeners.get(event, ()))

    def emit(self, event: str, *args: Any) -> bool:
        """Call every listener of ``event``; return whether there was any."""
        listeners = self._listeners.get(event)
        if not listeners:
            return False
        for listener in list(listeners):
            try:
                listener(*args)
            except Exception:
                log.exception("listener of %r raised", event)
        return True
