"""`sfuctl serve` as a user runs it: a real process, real HTTP, clean shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
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
        if proc.poll() is not None:
            output = proc.stdout.read() if proc.stdout is not None else ""
            raise AssertionError(f"server exited early with {proc.returncode}: {output[-2000:]}")
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


@pytest.mark.parametrize("fmt", ["json", "text"])
async def test_log_lines_carry_room_and_user_as_fields(fmt: str) -> None:
    """--log-format json can be queried by room; text shows the same fields in brackets."""
    from sfuctl.client import SignalingClient
    from sfuctl.server.auth import mint_token
    from tests.conftest import TEST_SECRET

    port = free_port()
    proc = subprocess.Popen(  # noqa: ASYNC220 (starting it does not block)
        [SFUCTL, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--rtc-ip", "127.0.0.1", "--log-format", fmt],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=dict(os.environ, SFUCTL_SECRET=TEST_SECRET),
    )  # fmt: skip
    try:
        await asyncio.to_thread(wait_for_health, port, proc)
        client = SignalingClient()
        await client.connect(f"ws://127.0.0.1:{port}/", mint_token(TEST_SECRET, "logs", "ada")[0])
        await client.join()
        await client.close()
        proc.send_signal(signal.SIGTERM)
        output, _ = await asyncio.to_thread(proc.communicate, timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    if fmt == "json":
        lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        joins = [e for e in lines if e["msg"] == "join" and e.get("room") == "logs"]
        assert joins and joins[0]["user"] == "ada" and joins[0]["peers"] == 1, lines
    else:
        assert "join [room:logs user:ada peers:1]" in output, output
