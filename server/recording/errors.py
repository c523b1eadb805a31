"""What the recording manager refuses, in words safe to show, with a kind the HTTP layer maps."""

from __future__ import annotations


class RecordingError(Exception):
    """A request the manager refuses; ``kind`` picks the HTTP answer, the message is safe to show."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def not_found(message: str) -> RecordingError:
    return RecordingError("not_found", message)
