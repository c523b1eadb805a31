"""What the dashboard shows, and where it comes from.

A ``Source`` returns one ``Snapshot`` per poll. ``ApiSource`` asks a live server; tests and
screenshots can pass fixed snapshots instead. Errors arrive as ``CliError`` (message + hint).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from sfuctl.api import ApiClient, TokenSource
from sfuctl.client import TlsTrust
from sfuctl.common import CliError, ExitCode
from sfuctl.server.http.models import Health, NodeInfo, NodeList, RoomDetail, RoomSummary

T = TypeVar("T")

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
    nodes: list[NodeInfo] | None = None
    """The cluster's nodes (GET /nodes); None on a single node, or when they could not be had."""
    nodes_error: str | None = None
    """Why a cluster's nodes are missing (Redis unreachable, no admin credentials)."""
    taken_at: float = field(default_factory=time.time)


class Source(Protocol):
    url: str

    async def fetch(self) -> Snapshot: ...

    async def close_room(self, room_id: str) -> None: ...

    async def kick(self, room_id: str, user_id: str) -> None: ...

    async def mute(self, room_id: str, producer_id: str, muted: bool) -> None: ...

    async def aclose(self) -> None: ...


class ApiSource:
    """Polls /health, then the admin room API (list + details) and, in a cluster, /nodes, on one
    kept-alive session."""

    def __init__(
        self, url: str, tokens: TokenSource | None, timeout: float = 3.0, trust: TlsTrust = True
    ) -> None:
        self.api = ApiClient(url, tokens, timeout=timeout, trust=trust)
        self.url = self.api.url

    async def fetch(self) -> Snapshot:
        health = await self.api.health()
        clustered = health.cluster is not None
        if self.api.tokens is None:
            missing = "no admin token: rooms are not shown"
            return Snapshot(health, rooms_error=missing, nodes_error=missing if clustered else None)
        listing, nodes = await asyncio.gather(
            refusal_or(self.api.rooms()), refusal_or(self.api.nodes()) if clustered else no_nodes()
        )
        if isinstance(nodes, CliError):
            nodes_error: str | None = f"{nodes.message} ({nodes.hint})"
        else:
            nodes_error = None
        found = nodes.nodes if isinstance(nodes, NodeList) else None
        if isinstance(listing, CliError):
            return Snapshot(health, rooms_error=f"{listing.message} ({listing.hint})", nodes=found,
                            nodes_error=nodes_error)  # fmt: skip
        rows = [RoomRow(summary) for summary in listing.rooms]
        details = await asyncio.gather(
            *(self.api.room(row.room_id) for row in rows[:MAX_DETAILS]), return_exceptions=True
        )
        for row, detail in zip(rows, details, strict=False):
            if isinstance(detail, RoomDetail):
                row.detail = detail
        return Snapshot(health, rows, nodes=found, nodes_error=nodes_error)

    async def close_room(self, room_id: str) -> None:
        await self.api.close_room(room_id)

    async def kick(self, room_id: str, user_id: str) -> None:
        await self.api.kick(room_id, user_id)

    async def mute(self, room_id: str, producer_id: str, muted: bool) -> None:
        await self.api.mute(room_id, producer_id, muted)

    async def aclose(self) -> None:
        await self.api.close()


async def refusal_or(call: Awaitable[T]) -> T | CliError:
    """The reply, or the API's refusal as a value; an unreachable server fails the whole poll."""
    try:
        return await call
    except CliError as error:
        if error.code == ExitCode.UNREACHABLE:
            raise
        return error


async def no_nodes() -> None:
    """A single node asks no /nodes (its status line says all there is)."""


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
