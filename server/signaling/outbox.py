"""What waits to be written to one client: bounded in frames and in bytes.

A client that reads too slowly for the events of its room fills its outbox; past either bound
``put`` refuses, and the connection drops the client. Memory per client is thus bounded in bytes
whatever the size of the events (a 60 KB appData echoed a thousand times is 60 MB otherwise).
"""

from __future__ import annotations

import asyncio
from collections import deque


class Outbox:
    def __init__(self, max_frames: int, max_bytes: int) -> None:
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self.bytes = 0
        self.closed = False
        self._frames: deque[bytes] = deque()
        self._ready = asyncio.Event()
        self._below_half = asyncio.Event()
        self._below_half.set()

    def __len__(self) -> int:
        return len(self._frames)

    def put(self, frame: bytes) -> bool:
        """Queue a frame; False (nothing queued) when it would pass a bound or the outbox is closed."""
        if self.closed or len(self._frames) >= self.max_frames or self.bytes + len(frame) > self.max_bytes:
            return False
        self._frames.append(frame)
        self.bytes += len(frame)
        self._ready.set()
        if not self._is_below_half():
            self._below_half.clear()
        return True

    async def get(self) -> bytes | None:
        """The next frame, waiting for one; None once closed."""
        while not self._frames:
            if self.closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        frame = self._frames.popleft()
        self.bytes -= len(frame)
        if self._is_below_half():
            self._below_half.set()
        return frame

    def take_queued(self, max_bytes: int) -> list[bytes]:
        """Frames already queued, in order, while their total stays within ``max_bytes``; no wait
        (the writer joins them to the frame it just got, to write them at once)."""
        frames = self._frames
        taken: list[bytes] = []
        total = 0
        while frames and total + len(frames[0]) <= max_bytes:
            frame = frames.popleft()
            total += len(frame)
            taken.append(frame)
        if taken:
            self.bytes -= total
            if self._is_below_half():
                self._below_half.set()
        return taken

    async def wait_below_half(self) -> None:
        """Back-pressure for a client's own requests: answer the next one when the answers so far
        are half written, so a burst is slowed down rather than mistaken for a stalled reader."""
        await self._below_half.wait()

    def seal(self) -> None:
        """Take no more frames, but let the writer send what is queued (a farewell event), then end."""
        self.closed = True
        self._ready.set()
        self._below_half.set()

    def close(self) -> None:
        """Drop what is queued and wake every waiter."""
        self.closed = True
        self._frames.clear()
        self.bytes = 0
        self._ready.set()
        self._below_half.set()

    def _is_below_half(self) -> bool:
        return len(self._frames) <= self.max_frames // 2 and self.bytes <= self.max_bytes // 2
