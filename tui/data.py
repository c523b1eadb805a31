"""What the dashboard shows, and where it comes from.

A ``Source`` returns one ``Snapshot`` per poll. ``ApiSource`` asks a live server; tests and
screenshots can pass fixed snapshots instead. Errors arrive as ``CliError`` (message + hint).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Protocol

from sfuctl.api import ApiClient, TokenSource
from sfuctl.client import TlsTrust
from sfuctl.common import CliError, ExitCode
from sfuctl.server.http.models import Health, RoomDetail, RoomSummary

MAX_DETAILS = 50
"""Rooms whose detail (bitrates, scores) is fetched per poll; more rooms show counts only."""


@dataclass
class RoomRow:
    summary: RoomSummary
    detail: RoomDetail | None = None

    @property
    def room_id(self) -> str:
        return self.summary.roomId

    @property
    def bitrate_in(self) -> int:
        return self.detail.bitrateIn if self.detail else 0

    @property
    def bitrate_out(self) -> int:
        return self.detail.bitrateOut if self.detail else 0


@dataclass
class Snapshot:
    health: Health
    rooms: list[RoomRow] = field(default_factory=list)
    rooms_error: str | None = None
    """Why rooms are missing (e.g. no admin credentials); the health part is still good."""
    taken_at: float = field(default_factory=time.time)


class Source(Protocol):
    url: str

    async def fetch(self) -> Snapshot: ...

    async def close_room(self, room_id: str) -> None: ...

    async def kick(self, room_id: str, user_id: str) -> None: ...

    async def mute(self, room_id: str, producer_id: str, muted: bool) -> None: ...

    async def aclose(self) -> None: ...


class ApiSource:
    """Polls /health, then the admin room API (list + details) on one kept-alive session."""

    def __init__(
        self, url: str, tokens: TokenSource | None, timeout: float = 3.0, trust: TlsTrust = True
    ) -> None:
        self.api = ApiClient(url, tokens, timeout=timeout, trust=trust)
        self.url = self.api.url

    async def fetch(self) -> Snapshot:
        health = await self.api.health()
        if self.api.tokens is None:
            return Snapshot(health, rooms_error="no admin token: rooms are not shown")
        try:
            listing = await self.api.rooms()
        except CliError as error:
            if error.code == ExitCode.UNREACHABLE:
                raise
            return Snapshot(health, rooms_error=f"{error.message} ({error.hint})")
        rows = [RoomRow(summary) for summary in listing.rooms]
        details = await asyncio.gather(
            *(self.api.room(row.room_id) for row in rows[:MAX_DETAILS]), return_exceptions=True
        )
        for row, detail in zip(rows, details, strict=False):
            if isinstance(detail, RoomDetail):
                row.detail = detail
        return Snapshot(health, rows)

    async def close_room(self, room_id: str) -> None:
        await self.api.close_room(room_id)

    async def kick(self, room_id: str, user_id: str) -> None:
        await self.api.kick(room_id, user_id)

    async def mute(self, room_id: str, producer_id: str, muted: bool) -> None:
        await self.api.mute(room_id, producer_id, muted)

    async def aclose(self) -> None:
        await self.api.close()


class CpuTracker:
    """CPU % of each worker from the cumulative CPU seconds of successive /health replies."""

    def __init__(self) -> None:
        self._last: dict[int, tuple[float, float]] = {}

    def percent(self, pid: int, cpu_seconds: float | None, now: float) -> float | None:
        if cpu_seconds is None:
            return None
        previous = self._last.get(pid)
        self._last[pid] = (cpu_seconds, now)
        if previous is None or now <= previous[1]:
            return None
        return max(0.0, (cpu_seconds - previous[0]) / (now - previous[1]) * 100)
