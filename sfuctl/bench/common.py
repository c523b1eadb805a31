"""What the bench modes share: tokens, server resource figures from /health, percentiles, output."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from sfuctl.client import TlsTrust
from sfuctl.server.auth import Grants, mint_token


@dataclass
class Target:
    """The server under test: where it is and how to mint its tokens."""

    url: str
    secret: str
    trust: TlsTrust = True
    """How an https/wss server's certificate is checked (--cacert, --fingerprint)."""

    def connector(self, limit: int = 100) -> aiohttp.TCPConnector:
        """A connector whose every request and WebSocket checks the server as ``trust`` says."""
        return aiohttp.TCPConnector(limit=limit, ssl=self.trust)

    @property
    def ws_url(self) -> str:
        scheme = "wss" if self.url.startswith("https") else "ws"
        return f"{scheme}://{self.url.split('://', 1)[1].rstrip('/')}/"

    def token(self, room: str, user: str, admin: bool = False) -> str:
        token, _ = mint_token(self.secret, room, user, ttl=3600, grants=Grants(admin=admin))
        return token


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def latency_summary(values: list[float]) -> dict[str, float]:
    """Milliseconds."""
    return {
        "count": len(values),
        "p50": round(percentile(values, 50) * 1000, 2),
        "p95": round(percentile(values, 95) * 1000, 2),
        "p99": round(percentile(values, 99) * 1000, 2),
        "max": round(max(values, default=0) * 1000, 2),
    }


@dataclass
class ServerSample:
    """CPU seconds and RSS of the server process and its workers at one moment (from /health)."""

    at: float
    process_cpu: float
    process_rss: int
    worker_cpu: float
    worker_rss: int
    workers: int
    worker_cpus: dict[int, float] | None = None
    """CPU seconds of each worker, by pid."""


async def sample_server(http: aiohttp.ClientSession, url: str) -> ServerSample:
    """The worker list from /health; CPU and RSS from /metrics (read from /proc, no worker request)."""
    base = url.rstrip("/")
    async with http.get(f"{base}/health") as resp:
        health: dict[str, Any] = await resp.json()
    async with http.get(f"{base}/metrics") as resp:
        metrics = parse_metrics(await resp.text()) if resp.status == 200 else {}
    workers = health.get("workers", [])
    return ServerSample(
        at=time.monotonic(),
        process_cpu=metrics.get("process_cpu_seconds_total", 0.0),
        process_rss=int(metrics.get("process_resident_memory_bytes", 0)),
        worker_cpu=sum(metrics.get(f"sfuctl_worker_cpu_seconds_total/{w['pid']}", 0) for w in workers),
        worker_rss=int(sum(metrics.get(f"sfuctl_worker_rss_bytes/{w['pid']}", 0) for w in workers)),
        workers=len(workers),
        worker_cpus={
            w["pid"]: metrics.get(f"sfuctl_worker_cpu_seconds_total/{w['pid']}", 0) for w in workers
        },
    )


def parse_metrics(text: str) -> dict[str, float]:
    """Unlabelled samples by name, and worker samples as ``name/pid``."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = sample.name if not sample.labels else f"{sample.name}/{sample.labels.get('pid', '')}"
            out[key] = sample.value
    return out


def server_usage(before: ServerSample, after: ServerSample) -> dict[str, Any]:
    """CPU as a share of one core over the interval; RSS at the end, in MiB."""
    elapsed = max(after.at - before.at, 1e-6)
    return {
        "controllerCpuPercent": round((after.process_cpu - before.process_cpu) / elapsed * 100, 1),
        "workersCpuPercent": round((after.worker_cpu - before.worker_cpu) / elapsed * 100, 1),
        "controllerRssMiB": round(after.process_rss / 2**20, 1),
        "workersRssMiB": round(after.worker_rss / 2**20, 1),
        "workers": after.workers,
        "workerCpuPercentEach": {
            str(pid): round((cpu - (before.worker_cpus or {}).get(pid, cpu)) / elapsed * 100, 1)
            for pid, cpu in (after.worker_cpus or {}).items()
        },
    }
