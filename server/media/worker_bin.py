"""Where the mediasoup-worker binary is: an explicit override, the one our setup built, or PATH."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

MEDIASOUP_VERSION = "3.27.1"
"""The worker checks this against its own version at start (exit 41 on mismatch)."""

PACKAGED_BIN = Path(__file__).resolve().parent / "bin" / "mediasoup-worker"


class WorkerBinaryNotFound(FileNotFoundError):
    pass


def find_worker_bin() -> str:
    """Return the worker binary path; raise with a hint on how to get one."""
    override = os.environ.get("SFUCTL_WORKER_BIN")
    if override:
        if not os.access(override, os.X_OK):
            raise WorkerBinaryNotFound(f"SFUCTL_WORKER_BIN={override} is not an executable file")
        return override
    if os.access(PACKAGED_BIN, os.X_OK):
        return str(PACKAGED_BIN)
    on_path = shutil.which("mediasoup-worker")
    if on_path:
        return on_path
    raise WorkerBinaryNotFound(
        "mediasoup-worker not found: run `make setup` (builds it), or set SFUCTL_WORKER_BIN"
    )
