"""The workers table: pid, alive, CPU %, peak RSS, routers, transports."""

from __future__ import annotations

import time

from textual.widgets import DataTable

from sfuctl.common import human_kib
from sfuctl.server.http.models import Health
from sfuctl.tui.data import CpuTracker


class WorkersTable(DataTable[str]):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="none", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self.cpu = CpuTracker()

    def on_mount(self) -> None:
        for label, key in (("pid", "pid"), ("alive", "alive"), ("CPU %", "cpu"), ("RSS", "rss"),
                           ("routers", "routers"), ("transports", "transports")):  # fmt: skip
            self.add_column(label, key=key)

    def show(self, health: Health) -> None:
        now = time.monotonic()
        self.clear()
        for worker in health.workers:
            cpu_seconds = None
            if worker.cpuUser is not None:
                cpu_seconds = (worker.cpuUser + (worker.cpuSystem or 0)) / 1000  # the worker reports ms
            percent = self.cpu.percent(worker.pid, cpu_seconds, now)
            self.add_row(
                str(worker.pid),
                "[green]yes[/]" if worker.alive else "[red]NO[/]",
                "-" if percent is None else f"{percent:.1f}",
                human_kib(worker.rss / 1024 if worker.rss is not None else worker.maxRss),
                str(worker.routers),
                str(worker.transports),
                key=str(worker.pid),
            )
