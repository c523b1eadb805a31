"""AudioLevelObserver: reports the loudest of its audio producers every interval, or silence."""

from __future__ import annotations

from typing import Any

from sfuctl.server.media.fbs.Notification.Event import Event
from sfuctl.server.media.rtp_observer import RtpObserver


class AudioLevelObserver(RtpObserver):
    """Events (and observer): ``volumes([{"producer": Producer, "volume": int}])`` (loudest first,
    volume in dBov), ``silence``, plus RtpObserver's.
    """

    type = "audiolevel"

    def _on_notification(self, event: int, body: Any) -> None:
        if event == Event.AUDIOLEVELOBSERVER_VOLUMES:
            volumes = self._known_volumes(body["volumes"] or [])
            if volumes:
                self._announce("volumes", volumes)
        elif event == Event.AUDIOLEVELOBSERVER_SILENCE:
            self._announce("silence")

    def _known_volumes(self, entries: list[Any]) -> list[dict[str, Any]]:
        """Entries of producers still open here (one may close while the notification is in flight)."""
        volumes = []
        for entry in entries:
            producer = self.router.producers.get(entry["producerId"])
            if producer is not None:
                volumes.append({"producer": producer, "volume": entry["volume"]})
        return volumes
