"""Prometheus metrics: ``GET /metrics`` in the text exposition format.

Request counters and latency histograms are updated as requests are handled; everything that is
state (rooms, peers, media objects, workers) is read at scrape time, so it can never drift from
the truth. Labels are request types, error codes, kinds and worker pids only: nothing per user
or per room, which keeps the series count bounded whatever the load.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import psutil
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from sfuctl.server.media.errors import MediaError
from sfuctl.server.signaling import protocol as p

if TYPE_CHECKING:
    from prometheus_client.core import Metric

    from sfuctl.server.media.pool import WorkerPool
    from sfuctl.server.recording.manager import RecordingManager
    from sfuctl.server.signaling.registry import RoomRegistry
    from sfuctl.server.turn.supervisor import TurnSupervisor
    from sfuctl.server.webhooks.delivery import WebhookDispatcher

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
STATS_MIN_INTERVAL = 5.0
"""Transport stats (bytes in/out) are asked of the workers at most this often, whatever the scrape rate."""
STATS_TIMEOUT = 2.0
STATS_MAX_TRANSPORTS = 2000
"""Bounds a sweep's cost; transports beyond it keep their last known byte counts."""
KINDS = ("audio", "video")


def request_label(request_type: str) -> str:
    """Client-chosen strings must not become label values: unknown types share one label."""
    return request_type if request_type in p.REQUESTS else "unknown"


class ByteCounters:
    """Bytes in/out of every transport, as monotonic totals: live transports' last stats plus
    the final known figures of those that have closed since."""

    def __init__(self) -> None:
        self.last: dict[str, tuple[int, int]] = {}
        self.closed_in = 0
        self.closed_out = 0
        self.swept_at = -STATS_MIN_INTERVAL

    def totals(self) -> tuple[int, int]:
        return (
            self.closed_in + sum(v[0] for v in self.last.values()),
            self.closed_out + sum(v[1] for v in self.last.values()),
        )

    async def sweep(self, registry: RoomRegistry) -> None:
        if time.monotonic() - self.swept_at < STATS_MIN_INTERVAL:
            return
        self.swept_at = time.monotonic()
        transports = {
            t.id: t
            for room in registry.all()
            for peer in list(room.peers.values())
            for t in list(peer.transports.values())
        }
        for gone in set(self.last) - set(transports):
            bytes_in, bytes_out = self.last.pop(gone)
            self.closed_in += bytes_in
            self.closed_out += bytes_out
        chosen = list(transports.values())[:STATS_MAX_TRANSPORTS]

        async def one(transport_id: str) -> None:
            with contextlib.suppress(MediaError):
                stats = await transports[transport_id].get_stats()
                self.last[transport_id] = (
                    sum(int(s.get("bytesReceived", 0)) for s in stats),
                    sum(int(s.get("bytesSent", 0)) for s in stats),
                )

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(one(t.id) for t in chosen)), STATS_TIMEOUT)


class StateCollector(Collector):
    """Reads rooms, peers, media objects and workers when Prometheus scrapes."""

    def __init__(
        self,
        pool: WorkerPool,
        registry: RoomRegistry,
        bytes_: ByteCounters,
        turn: TurnSupervisor | None = None,
    ) -> None:
        self.pool = pool
        self.registry = registry
        self.bytes = bytes_
        self.turn = turn

    def collect(self) -> Iterator[Metric]:
        rooms = [room for room in self.registry.all() if not room.closed]
        peers = [peer for room in rooms for peer in list(room.peers.values())]
        yield GaugeMetricFamily("sfuctl_rooms", "Open rooms.", value=len(rooms))
        yield GaugeMetricFamily("sfuctl_peers", "Peers joined to a room.", value=len(peers))
        yield GaugeMetricFamily(
            "sfuctl_transports", "WebRTC transports of peers.", value=sum(len(p.transports) for p in peers)
        )
        yield GaugeMetricFamily(
            "sfuctl_pipe_transports",
            "Pipe transports between routers (a room spread over workers has two per pair of routers).",
            value=sum(
                1
                for worker in list(self.pool.workers)
                for router in list(worker.routers.values())
                for transport in list(router.transports.values())
                if transport.transport_type == "pipe"
            ),
        )
        yield GaugeMetricFamily(
            "sfuctl_room_routers", "Routers of open rooms (more than rooms: rooms spread over workers).",
            value=sum(len(room.media.routers) for room in rooms),
        )  # fmt: skip
        for name, attribute in (("producers", "producers"), ("consumers", "consumers")):
            family = GaugeMetricFamily(f"sfuctl_{name}", f"{name.capitalize()} by kind.", labels=["kind"])
            counts = dict.fromkeys(KINDS, 0)
            for peer in peers:
                for item in list(getattr(peer, attribute).values()):
                    counts[item.kind] = counts.get(item.kind, 0) + 1
            for kind, count in counts.items():
                family.add_metric([kind], count)
            yield family
        yield GaugeMetricFamily(
            "sfuctl_data_producers", "Data producers.", value=sum(len(p.data_producers) for p in peers)
        )
        yield GaugeMetricFamily(
            "sfuctl_data_consumers", "Data consumers.", value=sum(len(p.data_consumers) for p in peers)
        )
        bytes_in, bytes_out = self.bytes.totals()
        yield CounterMetricFamily(
            "sfuctl_transport_received_bytes", "Bytes received by peer transports.", value=bytes_in
        )
        yield CounterMetricFamily(
            "sfuctl_transport_sent_bytes", "Bytes sent by peer transports.", value=bytes_out
        )
        yield from self._workers()
        if self.turn is not None:
            yield GaugeMetricFamily(
                "sfuctl_turn_up", "1 while the managed TURN server runs.", value=int(self.turn.running)
            )
            yield CounterMetricFamily(
                "sfuctl_turn_restarts", "Restarts of the managed TURN server.", value=self.turn.restarts
            )

    def _workers(self) -> Iterator[Metric]:
        alive = GaugeMetricFamily("sfuctl_worker_alive", "1 while the worker runs.", labels=["pid"])
        cpu = CounterMetricFamily("sfuctl_worker_cpu_seconds", "Worker CPU time (user+sys).", labels=["pid"])
        rss = GaugeMetricFamily("sfuctl_worker_rss_bytes", "Worker resident memory.", labels=["pid"])
        routers = GaugeMetricFamily("sfuctl_worker_routers", "Routers (rooms) per worker.", labels=["pid"])
        for worker in list(self.pool.workers):
            pid = str(worker.pid)
            alive.add_metric([pid], 0 if worker.closed else 1)
            routers.add_metric([pid], len(worker.routers))
            try:
                process = psutil.Process(worker.pid)
                times = process.cpu_times()
                cpu.add_metric([pid], times.user + times.system)
                rss.add_metric([pid], process.memory_info().rss)
            except psutil.Error:
                continue
        yield GaugeMetricFamily("sfuctl_workers_configured", "Workers the pool keeps.", value=self.pool.size)
        yield from (alive, cpu, rss, routers)


class WebhookCollector(Collector):
    """Webhook delivery counters, read from the dispatcher's plain stats at scrape time."""

    def __init__(self, webhooks: WebhookDispatcher) -> None:
        self.webhooks = webhooks

    def collect(self) -> Iterator[Metric]:
        stats = self.webhooks.stats
        yield CounterMetricFamily(
            "sfuctl_webhook_delivered", "Webhook events an endpoint took (2xx).", value=stats.delivered
        )
        yield CounterMetricFamily(
            "sfuctl_webhook_failed_attempts", "Webhook attempts that failed (error, timeout, non-2xx).",
            value=stats.failed_attempts,
        )  # fmt: skip
        dropped = CounterMetricFamily(
            "sfuctl_webhook_dropped", "Webhook events given up on, by reason.", labels=["reason"]
        )
        dropped.add_metric(["queue_full"], stats.dropped_queue_full)
        dropped.add_metric(["attempts"], stats.dropped_attempts)
        yield dropped
        yield GaugeMetricFamily(
            "sfuctl_webhook_queued", "Webhook events waiting.", value=self.webhooks.queued
        )


class RecordingCollector(Collector):
    """Recordings by state and the recorder processes running, read at scrape time."""

    def __init__(self, recordings: RecordingManager) -> None:
        self.recordings = recordings

    def collect(self) -> Iterator[Metric]:
        by_state = GaugeMetricFamily(
            "sfuctl_recordings", "Recordings kept on this server, by state.", labels=["state"]
        )
        everything = self.recordings.all()
        for state in ("recording", "stopped", "failed"):
            by_state.add_metric([state], sum(1 for r in everything if r.state == state))
        yield by_state
        yield GaugeMetricFamily(
            "sfuctl_recording_tracks", "Tracks being recorded (one recorder process each).",
            value=self.recordings.running_tracks(),
        )  # fmt: skip


class Metrics:
    """One per application (its own registry, so several servers can live in one process)."""

    def __init__(
        self,
        pool: WorkerPool,
        registry: RoomRegistry,
        turn: TurnSupervisor | None = None,
        webhooks: WebhookDispatcher | None = None,
        recordings: RecordingManager | None = None,
    ) -> None:
        self.rooms = registry
        self.registry = CollectorRegistry()
        self.bytes = ByteCounters()
        self.requests = Counter(
            "sfuctl_requests", "Signaling requests handled.", ["type"], registry=self.registry
        )
        self.errors = Counter(
            "sfuctl_request_errors", "Signaling requests answered with an error.", ["type", "code"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "sfuctl_request_duration_seconds", "Time to handle a signaling request.", ["type"],
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.registry.register(StateCollector(pool, registry, self.bytes, turn))
        if webhooks is not None:
            self.registry.register(WebhookCollector(webhooks))
        if recordings is not None:
            self.registry.register(RecordingCollector(recordings))
        ProcessCollector(registry=self.registry)  # the controller's own CPU and memory
        self._per_label: dict[str, tuple[Counter, Histogram]] = {}
        """Label of a request type → its children of ``requests`` and ``latency``."""

    def observe_request(self, request_type: str, seconds: float, error: p.ErrorCode | None) -> None:
        label = request_label(request_type)
        children = self._per_label.get(label)
        if children is None:  # labels() takes a lock and builds a key each call: looked up once per type
            children = self._per_label[label] = (self.requests.labels(label), self.latency.labels(label))
        children[0].inc()
        children[1].observe(seconds)
        if error is not None:
            self.errors.labels(label, error.value).inc()

    async def render(self) -> bytes:
        await self.bytes.sweep(self.rooms)
        return generate_latest(self.registry)
