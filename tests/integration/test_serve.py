"""`sfuctl serve` as a user runs it: a real process, real HTTP, clean shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port, process_exists

SFUCTL = str(Path(sys.executable).parent / "sfuctl")


def wait_for_health(port: int, proc: subprocess.Popen[str], deadline: float = 20.0) -> dict[str, object]:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        assert proc.poll() is None, f"server exited early with {proc.returncode}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                data: dict[str, object] = json.loads(resp.read())
                return data
        except OSError:
            time.sleep(0.1)
    raise AssertionError("server did not answer /health in time")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_reports_health_and_shuts_down_cleanly(sig: signal.Signals) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [SFUCTL, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as in a terminal
    )
    try:
        health = wait_for_health(port, proc)
        assert health["status"] == "ok"
        workers = health["workers"]
        assert isinstance(workers, list) and len(workers) == 2
        pids = [w["pid"] for w in workers]
        assert all(w["alive"] for w in workers)
        assert all(process_exists(pid) for pid in pids)
        assert all(w["maxRss"] > 0 for w in workers)
        # Ctrl-C in a terminal signals the whole foreground group; the workers, in their own
        # group, are closed by the server, not killed under it.
        os.killpg(proc.pid, sig)
        output, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, output
    assert "died unexpectedly" not in output, output
    assert f"listening on http://127.0.0.1:{port}" in output
    assert not any(process_exists(pid) for pid in pids)
