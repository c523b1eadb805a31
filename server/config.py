"""Server settings as plain data; the CLI (flags, env, config file) fills it in."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from server.media.worker import WorkerSettings


@dataclass
class ServerConfig:
    host: str = "0.0.0.0"
    port: int = 3001
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    log_level: str = "info"
