"""sfuctl record / recordings: the real CLI against an in-process server recording a pymediasoup
publisher's real media."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.cli.test_cli_server import sfuctl
from tests.conftest import RunningServer, start_server
from tests.media_client import MovingVideoTrack, ToneAudioTrack, loopback_ice
from tests.signaling_client import Peer

pytestmark = [
    pytest.mark.worker,
    pytest.mark.skipif(not shutil.which("gst-launch-1.0"), reason="needs gst-launch-1.0 (make setup)"),
]


@pytest.fixture
async def recording_server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    running = await start_server(recordings_dir=str(tmp_path / "server"))
    yield running
    await running.stop()


def codec_of(path: Path) -> str:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return out.stdout.strip()


async def test_record_start_stop_list_get_and_delete(recording_server: RunningServer, tmp_path: Path) -> None:
    server = recording_server
    with loopback_ice():
        video, tone = MovingVideoTrack(), ToneAudioTrack()
        alice = Peer([video, tone])
        try:
            await alice.join(server.ws_url, server.token("cli", "alice"))
            await alice.produce(video)
            await alice.produce(tone)

            started = await sfuctl("record", "start", "cli", "--url", server.url)
            assert started.exit_code == 0, started.output
            recording_id = started.stdout.strip()
            assert recording_id.startswith("rec-") and "recording room 'cli'" in started.stderr
            assert (await alice.signaling.wait_event("recording-started"))["recordingId"] == recording_id

            listed = await sfuctl("recordings", "--url", server.url)
            assert listed.exit_code == 0 and recording_id in listed.stdout and "recording" in listed.stdout
            early = await sfuctl(
                "recordings", "get", recording_id, "-o", str(tmp_path / "early"), "--url", server.url
            )
            assert early.exit_code == 1 and "still running" in early.stderr and "record stop" in early.stderr

            await asyncio.sleep(2)
            stopped = await sfuctl("record", "stop", "cli", recording_id, "--url", server.url)
            assert stopped.exit_code == 0, stopped.output
            assert f"stopped {recording_id}: 2 file(s)" in stopped.stderr

            as_json = await sfuctl("recordings", "--json", "--url", server.url)
            (entry,) = json.loads(as_json.stdout)["recordings"]
            assert entry["id"] == recording_id and entry["state"] == "stopped" and entry["files"] == 2
            shown = await sfuctl("recordings", "show", recording_id, "--url", server.url)
            assert shown.exit_code == 0 and "video/VP8" in shown.stdout and "audio/opus" in shown.stdout

            out = tmp_path / "downloads"
            got = await sfuctl("recordings", "get", recording_id, "-o", str(out), "--url", server.url)
            assert got.exit_code == 0, got.output
            files = sorted(out.iterdir())
            assert [f.suffix for f in files] == [".webm", ".webm"]
            server_dir = Path(server.config.recordings_dir or "") / recording_id
            for f in files:
                assert f.read_bytes() == (server_dir / f.name).read_bytes()
            assert sorted(codec_of(f) for f in files) == ["opus", "vp8"]

            deleted = await sfuctl("recordings", "delete", recording_id, "--yes", "--url", server.url)
            assert deleted.exit_code == 0 and not server_dir.exists()
        finally:
            await alice.close()


async def test_errors_are_one_line_and_a_hint(recording_server: RunningServer) -> None:
    server = recording_server
    cases = [
        (("record", "start", "nope"), 5, "no room 'nope'"),
        (("record", "stop", "nope", "rec-0123456789abcdef"), 5, "no recording"),
        (("recordings", "show", "rec-0123456789abcdef"), 5, "no recording"),
        (("recordings", "get", "rec-0123456789abcdef"), 5, "no recording"),
        (("recordings", "delete", "rec-0123456789abcdef", "--yes"), 5, "no recording"),
        (("recordings", "show", "../../etc"), 2, "not a recording id"),
        (("record", "stop", "cli", "rec-1"), 2, "not a recording id"),
    ]
    for args, code, message in cases:
        result = await sfuctl(*args, "--url", server.url)
        assert result.exit_code == code, (args, result.output)
        assert "Traceback" not in result.output
        assert result.stderr.startswith("error:") and "hint:" in result.stderr, result.stderr
        assert message in result.stderr
    unreachable = await sfuctl("recordings", "--url", "http://127.0.0.1:9")
    assert unreachable.exit_code == 3 and "hint:" in unreachable.stderr


def test_doctor_checks_the_recorder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from sfuctl.doctor import DoctorOptions, check_recorder

    options = DoctorOptions()
    options.config.recordings_dir = str(tmp_path / "recordings")
    found = check_recorder(options)
    assert found.status == "ok" and "gst-launch-1.0" in found.detail and str(tmp_path) in found.detail
    options.config.limits.recording_min_free_bytes = shutil.disk_usage(tmp_path).free + 10**15
    assert check_recorder(options).status == "warn" and "floor" in check_recorder(options).detail
    # GStreamer without its 'bad' plugins: no h264parse, so no H264 recording
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    inspect = bin_dir / "gst-inspect-1.0"
    real_inspect = shutil.which("gst-inspect-1.0")
    inspect.write_text(f'#!/bin/sh\n[ "$2" = h264parse ] && exit 1\nexec {real_inspect} "$@"\n')
    inspect.chmod(0o755)
    (bin_dir / "gst-launch-1.0").symlink_to(shutil.which("gst-launch-1.0") or "")
    monkeypatch.setenv("PATH", str(bin_dir))
    options.config.limits.recording_min_free_bytes = 0
    bad = check_recorder(options)
    assert bad.status == "warn" and "h264parse" in bad.detail and "plugins-bad" in bad.fix, bad
    monkeypatch.setenv("PATH", str(tmp_path))  # no GStreamer on it
    missing = check_recorder(options)
    assert missing.status == "warn" and "not found" in missing.detail and "gstreamer1.0-tools" in missing.fix


async def test_the_config_file_sets_the_recordings_dir(tmp_path: Path) -> None:
    config = tmp_path / "sfuctl.toml"
    target = tmp_path / "elsewhere" / "recs"
    config.write_text(f'recordings_dir = "{target}"\n\n[limits]\nmax_recordings = 2\n')
    doctor = await sfuctl("doctor", "--no-start", "--config", str(config))
    assert "recorder" in doctor.stdout and "elsewhere" in doctor.stdout, doctor.stdout
    config.write_text("recordings_dir = 5\n")
    refused = await sfuctl("doctor", "--no-start", "--config", str(config))
    assert refused.exit_code == 1 and "recordings_dir" in refused.stdout
