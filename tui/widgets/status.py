"""The status line (server, status, uptime) and the banner shown while the server is unreachable."""

from __future__ import annotations

from datetime import datetime

from textual.widgets import Static

from sfuctl.common import human_duration
from sfuctl.server.http.models import Health

STATUS_STYLE = {"ok": "bold green", "degraded": "bold yellow", "draining": "bold yellow"}


class StatusBar(Static):
    def show(self, url: str, health: Health, taken_at: float) -> None:
        style = STATUS_STYLE.get(health.status, "bold red")
        updated = datetime.fromtimestamp(taken_at).strftime("%H:%M:%S")
        cluster = ""
        if health.cluster is not None:
            redis = "Redis up" if health.cluster.redis == "up" else "[bold yellow]Redis down[/]"
            cluster = f"node {health.cluster.node} of {health.cluster.nodes}, {redis}   "
        self.update(
            f"[b]sfuctl {health.version}[/b] {url}   [{style}]● {health.status}[/]   "
            f"up {human_duration(health.uptime)}   {cluster}rooms {health.rooms}   peers {health.peers}   "
            f"[dim]updated {updated}[/dim]"
        )

    def waiting(self, url: str) -> None:
        self.update(f"[b]sfuctl[/b] {url}   [dim]connecting…[/dim]")


class ConnectionBanner(Static):
    """Hidden while polls succeed; says what failed and that it keeps retrying."""

    def report(self, message: str, hint: str, interval: float, last_ok: float | None) -> None:
        stale = ""
        if last_ok is not None:
            stale = f"  showing data from {datetime.fromtimestamp(last_ok).strftime('%H:%M:%S')}"
        hint_text = f"\n{hint}" if hint else ""
        self.update(f"⚠ {message} — retrying every {interval:g}s{stale}{hint_text}")
        self.add_class("-visible")

    def clear(self) -> None:
        self.remove_class("-visible")

    @property
    def visible_now(self) -> bool:
        return self.has_class("-visible")
