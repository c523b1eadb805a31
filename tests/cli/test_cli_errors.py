"""Every failure of a command is one `error:` line plus a `hint:` that fits the cause, never a traceback.

These run the real `sfuctl` executable as a subprocess (its real `main`, real workers, real
sockets on 127.0.0.1), each bounded by a timeout: a server that starts although it should not is
stopped and the test fails on the missing error.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from sfuctl.commands.serve import start_error
from sfuctl.server.config import ServerConfig
from sfuctl.server.media.errors import MediaError
from sfuctl.server.media.worker import Worker
from tests.conftest import TEST_SECRET, free_port

SFUCTL = str(Path(sys.executable).parent / "sfuctl")
TIMEOUT = 30.0
"""Seconds a command may take; a server still running then is stopped (and the test fails)."""


@dataclass
class Run:
    code: int | None
    """None when the command was still running at the timeout (it was stopped)."""
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def sfuctl(*args: str, env: dict[str, str | None] | None = None, home: Path | None = None) -> Run:
    """Run the real `sfuctl` with a bounded time, in a config dir of its own."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SFUCTL_")}
    environ.update({"COLUMNS": "200", "SFUCTL_SECRET": TEST_SECRET})
    if home is not None:
        environ["XDG_CONFIG_HOME"] = str(home)
    for key, value in (env or {}).items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    process = subprocess.Popen([SFUCTL, *args], env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)  # fmt: skip
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT)
        code: int | None = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            stdout, stderr = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate(timeout=10)
        code = None
    return Run(code, stdout, stderr)


def serve_args(*extra: str, port: int | None = None) -> list[str]:
    """A loopback-only server with one worker: what every serve case here starts from."""
    return ["serve", "--host", "127.0.0.1", "--port", str(port or free_port()), "--workers", "1",
            "--rtc-ip", "127.0.0.1", "--announced-address", "127.0.0.1", "--no-tcp", *extra]  # fmt: skip


def assert_one_error(run: Run, code: int, *, message: str, hint: str, not_hint: str | None = None) -> None:
    """One `error:` line naming the cause, the `hint:` right after it, the exit code, no traceback."""
    assert "Traceback" not in run.output, run.output
    lines = run.stderr.splitlines()
    errors = [i for i, line in enumerate(lines) if line.startswith("error:")]
    assert len(errors) == 1, run.output
    error_line = lines[errors[0]]
    assert message in error_line, run.output
    assert errors[0] + 1 < len(lines) and lines[errors[0] + 1].startswith("hint:"), run.output
    hint_line = lines[errors[0] + 1]
    assert hint in hint_line, run.output
    if not_hint is not None:
        assert not_hint not in hint_line, run.output
    assert run.code == code, run.output


def refused_before_workers(run: Run) -> None:
    """A config problem is found before any worker is spawned (not at the first join)."""
    assert "worker started" not in run.output, run.output


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "config"
    path.mkdir()
    return path


# -- the worker binary ----------------------------------------------------------------------------


def test_worker_that_exits_at_start(home: Path) -> None:
    run = sfuctl(*serve_args(), env={"SFUCTL_WORKER_BIN": "/bin/false"}, home=home)
    assert_one_error(run, 2, message="exited at start", hint="SFUCTL_WORKER_BIN", not_hint="--port")


def test_worker_binary_not_executable(home: Path, tmp_path: Path) -> None:
    binary = tmp_path / "mediasoup-worker"
    binary.write_text("not a program\n")
    binary.chmod(0o644)
    run = sfuctl(*serve_args(), env={"SFUCTL_WORKER_BIN": str(binary)}, home=home)
    assert_one_error(run, 2, message="not an executable", hint=f"chmod +x {binary}")


def test_worker_binary_that_is_a_text_file(home: Path, tmp_path: Path) -> None:
    binary = tmp_path / "mediasoup-worker"
    binary.write_text("not a program\n")
    binary.chmod(0o755)
    run = sfuctl(*serve_args(), env={"SFUCTL_WORKER_BIN": str(binary)}, home=home)
    assert_one_error(run, 2, message="Exec format error", hint="SFUCTL_WORKER_BIN", not_hint="--port")
    assert "cannot listen" not in run.stderr


# -- ports and addresses --------------------------------------------------------------------------


@contextmanager
def busy_port(kind: socket.SocketKind) -> Iterator[int]:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", free_port()))
        if kind == socket.SOCK_STREAM:
            sock.listen()
        yield sock.getsockname()[1]


def test_busy_http_port(home: Path) -> None:
    with busy_port(socket.SOCK_STREAM) as port:
        run = sfuctl(*serve_args(port=port), home=home)
    assert_one_error(run, 2, message=f"127.0.0.1:{port}", hint="--port")


def test_busy_webrtc_server_port(home: Path) -> None:
    with busy_port(socket.SOCK_DGRAM) as port:
        run = sfuctl(*serve_args("--webrtc-server-port", str(port)), home=home)
    assert_one_error(run, 2, message=f"{port}", hint="--webrtc-server-port")


def test_host_that_is_not_a_host(home: Path) -> None:
    run = sfuctl("serve", "--host", "not_a_host", "--port", str(free_port()), "--workers", "1", home=home)
    assert_one_error(run, 2, message="not_a_host", hint="--host", not_hint="--port")
    refused_before_workers(run)


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--rtc-ip", "999.1.1.1"),
        ("--rtc-ip", "sfu.example.com"),
        ("--announced-address", "not a host!"),
        ("--announced-address", "999.1.1.1"),
        ("--host", "999.1.1.1"),
    ],
)
def test_invalid_addresses_are_refused_at_start(home: Path, flag: str, value: str) -> None:
    run = sfuctl(*serve_args(flag, value), home=home)
    assert_one_error(run, 2, message=value, hint=flag)
    refused_before_workers(run)


# -- the secret -----------------------------------------------------------------------------------


def test_secret_file_that_is_a_directory(home: Path, tmp_path: Path) -> None:
    run = sfuctl(*serve_args("--secret-file", str(tmp_path)), env={"SFUCTL_SECRET": None}, home=home)
    assert_one_error(run, 2, message="is a directory", hint="--secret-file")
    refused_before_workers(run)


def test_secret_file_readable_by_others_is_refused_with_the_chmod(home: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text(TEST_SECRET + "\n")
    secret.chmod(0o644)
    run = sfuctl(*serve_args("--secret-file", str(secret)), env={"SFUCTL_SECRET": None}, home=home)
    assert_one_error(run, 2, message="readable by", hint=f"chmod 600 {secret}")
    refused_before_workers(run)


def test_doctor_says_the_same_of_a_loose_secret_file(home: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text(TEST_SECRET + "\n")
    secret.chmod(0o640)
    run = sfuctl("doctor", "--no-start", "--port", str(free_port()), "--secret-file", str(secret),
                 env={"SFUCTL_SECRET": None}, home=home)  # fmt: skip
    assert run.code == 1, run.output
    assert "FAIL" in run.stdout and f"chmod 600 {secret}" in run.stdout, run.output
    assert "Traceback" not in run.output


def test_every_command_refuses_a_loose_secret_file_alike(home: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text(TEST_SECRET + "\n")
    secret.chmod(0o604)
    env = {"SFUCTL_SECRET": None, "SFUCTL_SECRET_FILE": str(secret)}
    token = sfuctl("token", "--room", "lobby", "--user", "ada", env=env, home=home)
    assert_one_error(token, 2, message="readable by group/others", hint=f"chmod 600 {secret}")
    assert token.stdout == ""
    rooms = sfuctl("rooms", "--url", f"http://127.0.0.1:{free_port()}", env=env, home=home)
    assert_one_error(rooms, 2, message="readable by group/others", hint=f"chmod 600 {secret}")


def test_a_short_secret_says_how_long(home: Path) -> None:
    run = sfuctl("token", "--room", "lobby", "--user", "ada", "--secret", "short", home=home)
    assert_one_error(run, 2, message="too short", hint="32+ bytes")


def test_config_that_is_a_directory(home: Path, tmp_path: Path) -> None:
    run = sfuctl("serve", "--config", str(tmp_path), home=home)
    assert_one_error(run, 2, message="is a directory", hint="--config")


# -- doctor --config: the checks of serve, on that file -------------------------------------------


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sfuctl.toml"
    path.write_text(text)
    return path


def test_doctor_config_rejects_what_serve_rejects(home: Path, tmp_path: Path) -> None:
    config = write_config(
        tmp_path, f'host = "127.0.0.1"\nport = {free_port()}\nrtc_listen_ip = "999.1.1.1"\n'
    )
    served = sfuctl("serve", "--config", str(config), "--workers", "1", home=home)
    assert_one_error(served, 2, message="999.1.1.1", hint="--rtc-ip")
    doctor = sfuctl("doctor", "--no-start", "--config", str(config), home=home)
    assert doctor.code == 1, doctor.output
    assert "FAIL" in doctor.stdout and "999.1.1.1" in doctor.stdout, doctor.output
    assert "Traceback" not in doctor.output


def test_doctor_config_checks_the_ports_of_that_file(home: Path, tmp_path: Path) -> None:
    with busy_port(socket.SOCK_STREAM) as port:
        config = write_config(tmp_path, f'host = "127.0.0.1"\nport = {port}\n')
        doctor = sfuctl("doctor", "--no-start", "--json", "--config", str(config), home=home)
    assert doctor.code == 1, doctor.output
    assert f"port {port}" in doctor.stdout and '"fail"' in doctor.stdout, doctor.output


def test_doctor_config_checks_the_rtc_range_of_that_file(home: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path, "[worker]\nrtc_min_port = 41000\nrtc_max_port = 41099\n")
    doctor = sfuctl("doctor", "--no-start", "--json", "--port", str(free_port()), "--config", str(config),
                    home=home)  # fmt: skip
    assert "RTC ports 41000-41099" in doctor.stdout, doctor.output


# -- token ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("flag", "other"), [("--user", "--room"), ("--room", "--user")])
def test_token_refuses_an_empty_user_or_room(home: Path, flag: str, other: str) -> None:
    run = sfuctl("token", flag, "", other, "lobby", home=home)
    assert_one_error(run, 2, message=flag, hint=flag)
    assert run.stdout == ""


# -- click's own errors: worded like every other ---------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (["serve", "--port", "abc"], "--port", "sfuctl serve --help"),
        (["tokn"], "No such command 'tokn'", "sfuctl --help"),
        (["token"], "Missing option '--room'", "sfuctl token --help"),
        (["token", "--room", "x", "--user", "y", "--ttl", "0"], "--ttl", "--ttl takes"),
    ],
    ids=["bad-value", "unknown-command", "missing-option", "bad-ttl"],
)
def test_usage_errors_are_one_line_and_a_hint(home: Path, args: list[str], message: str, hint: str) -> None:
    run = sfuctl(*args, home=home)
    assert_one_error(run, 2, message=message, hint=hint)
    assert "╭" not in run.stderr  # not typer's boxed form


def test_no_command_still_shows_the_help(home: Path) -> None:
    run = sfuctl(home=home)
    assert "Usage: sfuctl" in run.stdout and "error:" not in run.output, run.output
    assert run.code == 2


# -- the last resort ------------------------------------------------------------------------------

FAILING_COMMAND = """
import sys
from sfuctl import cli

@cli.app.command("explode")
def explode() -> None:
    raise RuntimeError("the unexpected")

sys.argv = ["sfuctl", "explode"]
cli.main()
"""


def test_an_unexpected_exception_is_one_line_and_a_hint() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SFUCTL_")}
    result = subprocess.run([sys.executable, "-c", FAILING_COMMAND], capture_output=True, text=True,
                            timeout=TIMEOUT, env=env)  # fmt: skip
    run = Run(result.returncode, result.stdout, result.stderr)
    assert_one_error(run, 1, message="RuntimeError: the unexpected", hint="SFUCTL_DEBUG=1")


# -- a port lost between the check and its use ----------------------------------------------------


async def test_a_single_port_taken_after_the_check_is_still_named(worker: Worker) -> None:
    """The worker's own bind error (real worker, real busy socket) gets the single-port words."""
    with busy_port(socket.SOCK_DGRAM) as port:
        listen = [{"protocol": "udp", "ip": "127.0.0.1", "port": port}]
        with pytest.raises(MediaError) as raised:
            await worker.create_webrtc_server(listen)
    config = ServerConfig(host="127.0.0.1", rtc_listen_ip="127.0.0.1", webrtc_server_port=port, workers=1)
    error = start_error(config, raised.value)
    assert error is not None and error.code == 2
    assert f"--webrtc-server-port {port}" in error.message and "already in use" in error.message
    assert "--webrtc-server-port" in error.hint


def test_room_spreading_limits_are_checked_before_workers(home: Path) -> None:
    run = sfuctl(*serve_args(), "--limit", "consumers_per_router=0", home=home)
    assert_one_error(
        run, 2, message="consumers_per_router must be at least 1", hint="--limit consumers_per_router"
    )
    refused_before_workers(run)
    run = sfuctl(*serve_args(), "--limit", "key_frame_request_delay_ms=-1", home=home)
    assert_one_error(
        run, 2, message="key_frame_request_delay_ms must be 0 or more", hint="key_frame_request_delay_ms"
    )
