"""ActiveSpeakerObserver: tells which of its audio producers is the dominant speaker."""

from __future__ import annotations

from typing import Any

from sfuctl.server.media.fbs.Notification.Event import Event
from sfuctl.server.media.rtp_observer import RtpObserver


class ActiveSpeakerObserver(RtpObserver):
    """Events (and observer): ``dominantspeaker({"producer": Producer})``, plus RtpObserver's."""

    type = "activespeaker"

    def _on_notification(self, event: int, body: Any) -> None:
        if event != Event.ACTIVESPEAKEROBSERVER_DOMINANT_SPEAKER:
            return
        producer = self.router.producers.get(body["producerId"])
        if producer is None:  # closed while the notification was in flight
            return
        dominant_speaker = {"producer": producer}
        self._announce("dominantspeaker", dominant_speaker)
