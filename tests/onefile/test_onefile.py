"""The one-file executable (``dist/sfuctl``), run from a directory outside the repository.

The session fixture builds it with ``packaging/pyinstaller/build.py --if-stale`` (about a minute;
nothing when it is newer than its sources). The server it runs is only the executable: the worker
and its shared libraries must come out of the bundle, and a real pymediasoup client publishes
and consumes through it. SIGTERM must leave no process and no extraction directory behind.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest

from sfuctl.server import __version__
from sfuctl.server.auth import mint_token
from tests.conftest import free_port, process_exists
from tests.media_client import MovingVideoTrack, loopback_ice, receive_frames
from tests.signaling_client import Peer

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "packaging" / "pyinstaller" / "build.py"
TARGET = ROOT / "dist" / "sfuctl"
SECRET = "onefile-test-secret-0123456789-abcdefghijklmnop"
BUILD_TIMEOUT = 900
GLIBC = {"libc.so.6", "libm.so.6", "ld-linux-x86-64.so.2", "libpthread.so.0", "libdl.so.2", "librt.so.1"}

pytestmark = [pytest.mark.dist, pytest.mark.worker, pytest.mark.timeout(BUILD_TIMEOUT + 120)]


@pytest.fixture(scope="session")
def onefile() -> Path:
    """dist/sfuctl, (re)built when missing or older than its sources."""
    if importlib.util.find_spec("PyInstaller") is None:
        if os.environ.get("CI") or not TARGET.exists():
            pytest.fail("PyInstaller is missing: pip install -c constraints.txt -e '.[dist]'")
        return TARGET  # a developer without the dist extra tests the file they have
    build = subprocess.run(
        [sys.executable, str(BUILD), "--if-stale"], capture_output=True, text=True, timeout=BUILD_TIMEOUT
    )
    if build.returncode != 0:
        output = build.stdout[-3000:] + build.stderr[-5000:]
        pytest.fail(f"{BUILD.name} failed ({build.returncode}):\n{output}")
    return TARGET


@pytest.fixture(scope="session")
def install_dir(onefile: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the executable alone in a temporary directory, as an operator would have it."""
    where = tmp_path_factory.mktemp("onefile")
    shutil.copy2(onefile, where / "sfuctl")
    (where / "tmp").mkdir()
    return where


def clean_env(install_dir: Path) -> dict[str, str]:
    """No venv, no SFUCTL_* settings; the bootloader extracts under our own TMPDIR."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SFUCTL_", "VIRTUAL_ENV", "PYTHON")) and key != "LD_LIBRARY_PATH"
    }
    env.update(
        PATH="/usr/local/bin:/usr/bin:/bin",
        TMPDIR=str(install_dir / "tmp"),
        HOME=str(install_dir),
        COLUMNS="200",
    )
    return env


def run_onefile(install_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["./sfuctl", *args],
        cwd=install_dir,
        env=clean_env(install_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )


def bundle_dirs(install_dir: Path) -> list[Path]:
    return sorted((install_dir / "tmp").glob("_MEI*"))


def test_version(install_dir: Path) -> None:
    result = run_onefile(install_dir, "version")
    assert result.returncode == 0, result.stderr
    assert f"sfuctl {__version__}" in result.stdout
    # The worker comes from the extracted bundle, not from the repository or PATH.
    assert f"{install_dir / 'tmp'}/_MEI" in result.stdout
    assert "/server/media/bin/mediasoup-worker" in result.stdout
    assert bundle_dirs(install_dir) == []


def test_doctor(install_dir: Path) -> None:
    result = run_onefile(install_dir, "doctor", "--json", "--port", str(free_port()))
    report = json.loads(result.stdout)
    checks = {check["name"]: check for check in report["checks"]}
    for name in ("worker binary", "shared libraries", "worker starts"):
        assert checks[name]["status"] == "ok", checks[name]
    assert checks["worker binary"]["detail"].startswith(f"{install_dir / 'tmp'}/_MEI")
    assert result.returncode == (0 if report["ok"] else 1), result.stderr
    # The human form too (rich tables from the bundle).
    table = run_onefile(install_dir, "doctor", "--no-start", "--port", str(free_port()))
    assert "worker binary" in table.stdout and "all resolved" in table.stdout, table.stdout + table.stderr
    assert bundle_dirs(install_dir) == []


async def wait_healthy(url: str, proc: subprocess.Popen[str], timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"sfuctl exited with {proc.returncode}"
            try:
                async with session.get(f"{url}/health") as response:
                    if response.status == 200:
                        health: dict[str, Any] = await response.json()
                        if health["status"] == "ok":
                            return health
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError("sfuctl did not become healthy")


def descendants(pid: int) -> list[int]:
    return [child.pid for child in psutil.Process(pid).children(recursive=True)]


def mapped_libraries(pid: int) -> dict[str, str]:
    """name -> path of the shared objects mapped into a process."""
    libraries = {}
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        path = line.split()[-1]
        if ".so" in path:
            libraries[Path(path).name] = path
    return libraries


@pytest.fixture
def served(install_dir: Path) -> Iterator[tuple[subprocess.Popen[str], str, float]]:
    port = free_port()
    rtc_port = free_port()
    started = time.monotonic()
    # fmt: off
    proc = subprocess.Popen(
        [
            "./sfuctl", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "--rtc-ip", "127.0.0.1", "--announced-address", "127.0.0.1", "--secret", SECRET,
            "--rtc-min-port", str(min(rtc_port, 65000)), "--rtc-max-port", str(min(rtc_port, 65000) + 500),
        ],
        cwd=install_dir, env=clean_env(install_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )
    # fmt: on
    try:
        yield proc, f"127.0.0.1:{port}", started
    finally:
        if proc.poll() is None:
            for pid in descendants(proc.pid):
                os.kill(pid, signal.SIGKILL)
            proc.kill()
            proc.wait()


async def test_serve_publish_consume_and_stop(
    served: tuple[subprocess.Popen[str], str, float], install_dir: Path
) -> None:
    proc, address, started = served
    health = await wait_healthy(f"http://{address}", proc)
    print(f"\nonefile: healthy {time.monotonic() - started:.2f}s after exec")
    assert [w["alive"] for w in health["workers"]] == [True]
    worker_pids = [w["pid"] for w in health["workers"]]
    tree = descendants(proc.pid)
    assert set(worker_pids) <= set(tree)

    # Data files come from the bundle: the conference page and Swagger UI's assets.
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://{address}/") as response:
            assert response.status == 200
            page = await response.text()
        index = ROOT / "server" / "static" / "index.html"
        if index.exists():
            assert page == index.read_text()
        async with session.get(f"http://{address}/docs/static/swagger-ui-bundle.js") as response:
            assert response.status == 200 and len(await response.read()) > 100_000

    # The worker and the libraries a bare Debian host lacks come from the extracted bundle.
    (bundle,) = bundle_dirs(install_dir)
    worker = worker_pids[0]
    assert os.readlink(f"/proc/{worker}/exe") == str(bundle / "sfuctl/server/media/bin/mediasoup-worker")
    libraries = mapped_libraries(worker)
    for name in ("libuv.so.1", "libabsl_strings.so.20220623", "libssl.so.3"):
        assert libraries[name] == str(bundle / name), libraries
    # libsrtp is linked statically when the set-up builds it on OpenSSL; Debian's shared one is the
    # fallback, and then it too must come from the bundle.
    assert libraries.get("libsrtp2.so.1", str(bundle / "libsrtp2.so.1")) == str(bundle / "libsrtp2.so.1")

    with loopback_ice():
        video = MovingVideoTrack()
        alice, bob = Peer([video]), Peer()
        try:
            alice_token, _ = mint_token(SECRET, "dist-room", "alice", "Alice")
            await alice.join(f"ws://{address}/", alice_token)
            video_id = await alice.produce(video)
            bob_token, _ = mint_token(SECRET, "dist-room", "bob", "Bob")
            joined = await bob.join(f"ws://{address}/", bob_token)
            assert [p["producerId"] for p in joined["producers"]] == [video_id]
            _, consumer = await bob.consume(video_id)
            frames = await receive_frames(consumer.track, 5)
            assert frames[-1].width == 320 and frames[-1].height == 240
            # With SRTP running (libsrtp2 on NSS may dlopen more), the worker still maps nothing
            # from the host but glibc: what a bare bookworm host has.
            from_host = {n: p for n, p in mapped_libraries(worker).items() if not p.startswith(str(bundle))}
            assert set(from_host) <= GLIBC, from_host
        finally:
            await bob.close()
            await alice.close()

    proc.send_signal(signal.SIGTERM)
    output, _ = await asyncio.to_thread(proc.communicate, timeout=30)
    assert proc.returncode == 0, output
    assert not any(process_exists(pid) for pid in [*worker_pids, *tree]), output
    assert bundle_dirs(install_dir) == [], "the bootloader left its extraction directory"


def test_serve_tls_generates_a_certificate_curl_trusts(install_dir: Path) -> None:
    """cryptography and ssl are in the bundle: the generated certificate serves HTTPS."""
    port = free_port()
    state = install_dir / "tls-state"
    # fmt: off
    proc = subprocess.Popen(
        [
            "./sfuctl", "serve", "--tls", "--tls-dir", str(state), "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1", "--rtc-ip", "127.0.0.1", "--announced-address", "127.0.0.1", "--secret", SECRET,
        ],
        cwd=install_dir, env=clean_env(install_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )
    # fmt: on
    try:
        deadline = time.monotonic() + 30
        answer = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"sfuctl exited with {proc.returncode}"
            if (state / "tls-cert.pem").exists():
                answer = subprocess.run(
                    ["curl", "-sS", "--max-time", "5", "--cacert", str(state / "tls-cert.pem"),
                     f"https://127.0.0.1:{port}/health"],
                    capture_output=True, text=True, timeout=15,
                )  # fmt: skip
                if answer.returncode == 0:
                    break
            time.sleep(0.2)
        assert answer is not None and answer.returncode == 0, answer
        assert json.loads(answer.stdout)["status"] == "ok"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            for pid in descendants(proc.pid):
                os.kill(pid, signal.SIGKILL)
            proc.kill()
            proc.wait()
