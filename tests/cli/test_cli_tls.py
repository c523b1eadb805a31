"""`sfuctl serve --tls` as a person runs it: the real executable, curl, SIGHUP, the CLI's --cacert.

Every certificate problem is one `error:` line with a `hint:` and exit code 2, found before any
worker is spawned. Servers here listen on 127.0.0.1 only and are stopped by each test.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from sfuctl.server.tls.certificate import CERT_NAME, KEY_NAME, fingerprint, generate, inspect
from tests.cli.test_cli_errors import SFUCTL, assert_one_error, refused_before_workers, serve_args, sfuctl
from tests.conftest import TEST_SECRET, free_port

pytestmark = pytest.mark.worker

START_TIMEOUT = 30.0


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "config"
    path.mkdir()
    return path


@dataclass
class Served:
    process: subprocess.Popen[str]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text()


@contextmanager
def served(home: Path, *extra: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    """A real `sfuctl serve --tls` until the end of the block (its banner printed, then SIGTERM);
    with ``env``, TLS comes from the environment instead of the flag."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SFUCTL_")}
    environ.update({"COLUMNS": "250", "SFUCTL_SECRET": TEST_SECRET, "XDG_CONFIG_HOME": str(home)})
    environ.update(env or {})
    log = home / "serve.log"
    with log.open("w") as out:
        args = [SFUCTL, *serve_args(*([] if env else ["--tls"]), *extra, port=port)]
        process = subprocess.Popen(args, env=environ, stdout=out, stderr=subprocess.STDOUT, text=True,
                                   start_new_session=True)  # fmt: skip
    server = Served(process, port, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while "SHA-256 fingerprint" not in server.output():
            assert process.poll() is None, server.output()
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.1)
        yield server
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def served_fingerprint(port: int) -> str:
    pem = ssl.get_server_certificate(("127.0.0.1", port), timeout=5)
    return fingerprint(ssl.PEM_cert_to_DER_cert(pem))


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["curl", "-sS", "--max-time", "10", *args], capture_output=True, text=True, timeout=20
    )


# -- the generated certificate ------------------------------------------------------------------


def test_curl_trusts_the_generated_certificate_and_the_banner_shows_it(home: Path) -> None:
    with served(home) as server:
        cert = home / "sfuctl" / CERT_NAME
        assert (home / "sfuctl" / KEY_NAME).stat().st_mode & 0o777 == 0o600
        answer = curl("--cacert", str(cert), f"{server.url}/health")
        assert answer.returncode == 0, answer.stderr
        assert '"status":"ok"' in answer.stdout
        by_name = curl("--cacert", str(cert), f"https://localhost:{server.port}/health")
        assert by_name.returncode == 0, by_name.stderr
        untrusted = curl(f"{server.url}/health")
        assert untrusted.returncode == 60, untrusted  # curl: peer certificate cannot be authenticated
        info = inspect(cert)
        assert served_fingerprint(server.port) == info.sha256
        output = server.output()
        assert f"SHA-256 fingerprint: {info.sha256}" in output, output
        assert f"listening on {server.url}" in output and f"--cacert {cert}" in output, output
    assert {"127.0.0.1", "localhost", socket.gethostname()} <= set(info.names)
    assert datetime.timedelta(days=364) < info.not_after - info.not_before <= datetime.timedelta(days=366)


def test_the_cli_commands_trust_a_cacert_or_a_fingerprint(home: Path, tmp_path: Path) -> None:
    with served(home) as server:
        cert = str(home / "sfuctl" / CERT_NAME)
        sha = inspect(cert).sha256
        env = {"XDG_CONFIG_HOME": str(home)}
        assert sfuctl("health", "--url", server.url, "--cacert", cert, env=env).code == 0
        assert sfuctl("health", "--url", server.url, "--fingerprint", sha, env=env).code == 0
        rooms = sfuctl("rooms", "--url", server.url, "--cacert", cert, "--json", env=env)
        assert rooms.code == 0 and '"rooms"' in rooms.stdout, rooms.output
        bench = sfuctl("bench", "signaling", "--peers", "4", "--room-size", "2", "--hold", "0.1",
                       "--url", server.url, "--cacert", cert, "--json", env=env)  # fmt: skip
        assert bench.code == 0 and '"peersJoined": 4' in bench.stdout, bench.output

        other = generate(tmp_path / "other.pem", tmp_path / "other-key.pem", ["127.0.0.1"])
        wrong = sfuctl("health", "--url", server.url, "--cacert", other.path, env=env)
        assert_one_error(wrong, 3, message="cannot trust", hint="--cacert")
        pinned = sfuctl("health", "--url", server.url, "--fingerprint", other.sha256, env=env)
        assert_one_error(pinned, 3, message="cannot trust", hint="--fingerprint")
        system = sfuctl("health", "--url", server.url, env=env)
        assert_one_error(system, 3, message="cannot trust", hint="--cacert")
        plain = sfuctl("health", "--url", f"http://127.0.0.1:{server.port}", env=env)
        assert plain.code == 3, plain.output


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (["--cacert", "/nonexistent/ca.pem"], "does not exist", "PEM"),
        (["--fingerprint", "12:34"], "not a SHA-256 fingerprint", "64 hex"),
        (["--cacert", "/etc/hostname", "--fingerprint", "ab" * 32], "exclude each other", "one of them"),
    ],
)
def test_bad_trust_options_are_usage_errors(home: Path, args: list[str], message: str, hint: str) -> None:
    for command in (["health"], ["rooms"], ["bench", "join"]):
        run = sfuctl(*command, "--url", f"https://127.0.0.1:{free_port()}", *args, home=home)
        assert_one_error(run, 2, message=message, hint=hint)


# -- reloading a renewed certificate ------------------------------------------------------------


def test_sighup_loads_a_renewed_certificate(home: Path, tmp_path: Path) -> None:
    cert, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    old = generate(cert, key, ["127.0.0.1"])
    with served(home, "--tls-cert", str(cert), "--tls-key", str(key), "--tls-watch-seconds", "0") as server:
        assert served_fingerprint(server.port) == old.sha256
        new = generate(cert, key, ["127.0.0.1"])
        assert served_fingerprint(server.port) == old.sha256  # no polling: only SIGHUP reloads
        os.kill(server.process.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while served_fingerprint(server.port) != new.sha256 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert served_fingerprint(server.port) == new.sha256, server.output()
        assert server.process.poll() is None
        assert "TLS certificate reloaded (SIGHUP)" in server.output()
        answer = curl("--cacert", str(cert), f"{server.url}/health")
        assert answer.returncode == 0, answer.stderr


# -- certificate problems at start-up -------------------------------------------------------------


def pair(tmp_path: Path, valid_from: datetime.datetime | None = None) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    generate(cert, key, ["127.0.0.1"], valid_from=valid_from)
    return cert, key


def test_missing_certificate_file(home: Path, tmp_path: Path) -> None:
    _, key = pair(tmp_path)
    run = sfuctl(*serve_args("--tls", "--tls-cert", str(tmp_path / "nope.pem"), "--tls-key", str(key)),
                 home=home)  # fmt: skip
    assert_one_error(run, 2, message="nope.pem does not exist", hint="--tls-cert")
    refused_before_workers(run)


def test_missing_key_file(home: Path, tmp_path: Path) -> None:
    cert, _ = pair(tmp_path)
    run = sfuctl(*serve_args("--tls", "--tls-cert", str(cert), "--tls-key", str(tmp_path / "nokey.pem")),
                 home=home)  # fmt: skip
    assert_one_error(run, 2, message="nokey.pem does not exist", hint="--tls-key")


def test_key_that_does_not_match(home: Path, tmp_path: Path) -> None:
    cert, _ = pair(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _, wrong_key = pair(other)
    run = sfuctl(*serve_args("--tls", "--tls-cert", str(cert), "--tls-key", str(wrong_key)), home=home)
    assert_one_error(run, 2, message="does not match the certificate", hint="the key the certificate was")
    refused_before_workers(run)


def test_expired_certificate(home: Path, tmp_path: Path) -> None:
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=400)
    cert, key = pair(tmp_path, valid_from=long_ago)
    run = sfuctl(*serve_args("--tls", "--tls-cert", str(cert), "--tls-key", str(key)), home=home)
    assert_one_error(run, 2, message="expired on", hint="renew it")
    refused_before_workers(run)


def test_certificate_not_yet_valid(home: Path, tmp_path: Path) -> None:
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=3)
    cert, key = pair(tmp_path, valid_from=later)
    run = sfuctl(*serve_args("--tls", "--tls-cert", str(cert), "--tls-key", str(key)), home=home)
    assert_one_error(run, 2, message="is not valid before", hint="clock")


@pytest.mark.parametrize(
    ("which", "content", "message", "hint"),
    [
        ("cert", "not a certificate\n", "holds no PEM certificate", "fullchain.pem"),
        ("key", "not a key\n", "is not a PEM private key", "privkey.pem"),
        ("cert", None, "is a directory", "--tls-cert takes a PEM file"),
        ("key", None, "is a directory", "--tls-key takes a PEM file"),
    ],
)
def test_unreadable_certificate_or_key(
    home: Path, tmp_path: Path, which: str, content: str | None, message: str, hint: str
) -> None:
    cert, key = pair(tmp_path)
    broken = cert if which == "cert" else key
    broken.unlink()
    if content is None:
        broken.mkdir()
    else:
        broken.write_text(content)
    run = sfuctl(*serve_args("--tls", "--tls-cert", str(cert), "--tls-key", str(key)), home=home)
    assert_one_error(run, 2, message=message, hint=hint)
    refused_before_workers(run)


def test_generated_key_readable_by_others_is_refused_with_the_chmod(home: Path) -> None:
    state = home / "sfuctl"
    generate(state / CERT_NAME, state / KEY_NAME, ["127.0.0.1"])
    (state / KEY_NAME).chmod(0o644)
    run = sfuctl(*serve_args("--tls"), home=home)
    assert_one_error(
        run, 2, message="readable or writable by group/others", hint=f"chmod 600 {state / KEY_NAME}"
    )


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (["--tls", "--tls-cert", "/etc/hostname"], "tls_cert is set without its pair", "give --tls-key"),
        (["--tls", "--tls-key", "/etc/hostname"], "tls_key is set without its pair", "give --tls-cert"),
        (["--tls-cert", "a.pem", "--tls-key", "b.pem"], "tls_cert and tls_key need tls on", "add --tls"),
        (["--tls", "--tls-watch-seconds", "-1"], "tls_watch_seconds -1.0 is not in 0-86400", "SIGHUP"),
    ],
)
def test_tls_settings_that_do_not_fit_together(home: Path, args: list[str], message: str, hint: str) -> None:
    run = sfuctl(*serve_args(*args), home=home)
    assert_one_error(run, 2, message=message, hint=hint)
    refused_before_workers(run)


def test_tls_from_the_config_file(home: Path, tmp_path: Path) -> None:
    config = tmp_path / "sfuctl.toml"
    config.write_text(f'tls = true\ntls_dir = "{tmp_path / "state"}"\n')
    with served(home, "--config", str(config)) as server:
        assert served_fingerprint(server.port) == inspect(tmp_path / "state" / CERT_NAME).sha256


def test_tls_from_the_environment(home: Path, tmp_path: Path) -> None:
    cert, key = pair(tmp_path)
    env = {"SFUCTL_TLS": "1", "SFUCTL_TLS_CERT": str(cert), "SFUCTL_TLS_KEY": str(key)}
    with served(home, env=env) as server:
        assert served_fingerprint(server.port) == inspect(cert).sha256


def test_sighup_without_tls_does_not_stop_the_server(home: Path) -> None:
    """The unit's ExecReload sends SIGHUP whatever the settings; a plain server logs and goes on."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SFUCTL_")}
    environ.update({"SFUCTL_SECRET": TEST_SECRET, "XDG_CONFIG_HOME": str(home), "SFUCTL_TLS_DIR": str(home)})
    log = home / "plain.log"
    with log.open("w") as out:
        process = subprocess.Popen([SFUCTL, *serve_args(port=port)], env=environ, stdout=out,
                                   stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while "listening on http://" not in log.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        os.kill(process.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "nothing to reload" not in log.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert curl(f"http://127.0.0.1:{port}/health").returncode == 0
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


# -- doctor ---------------------------------------------------------------------------------------


def doctor_tls(home: Path, *args: str) -> dict[str, str]:
    run = sfuctl("doctor", "--no-start", "--json", "--tls", *args, home=home)
    assert run.code in (0, 1) and "Traceback" not in run.output, run.output
    checks = json.loads(run.stdout)["checks"]
    return next(check for check in checks if check["name"] == "TLS certificate")


def test_doctor_reports_subject_names_and_expiry(home: Path, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    info = generate(cert, key, ["sfu.example.com", "127.0.0.1"])
    check = doctor_tls(home, "--tls-cert", str(cert), "--tls-key", str(key))
    assert check["status"] == "ok", check
    assert "CN=sfu.example.com" in check["detail"] and "sfu.example.com, 127.0.0.1" in check["detail"]
    assert f"expires {info.not_after:%Y-%m-%d}" in check["detail"], check


def test_doctor_warns_30_days_ahead(home: Path, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=340)
    generate(cert, key, ["127.0.0.1"], valid_from=start)
    check = doctor_tls(home, "--tls-cert", str(cert), "--tls-key", str(key))
    assert check["status"] == "warn" and "expires in 24 days" in check["detail"], check
    assert "renew" in check["fix"], check


def test_doctor_fails_what_serve_refuses(home: Path, tmp_path: Path) -> None:
    cert, _ = pair(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _, wrong_key = pair(other)
    check = doctor_tls(home, "--tls-cert", str(cert), "--tls-key", str(wrong_key))
    assert check["status"] == "fail" and "does not match" in check["detail"], check
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=400)
    expired, expired_key = pair(tmp_path, valid_from=long_ago)
    check = doctor_tls(home, "--tls-cert", str(expired), "--tls-key", str(expired_key))
    assert check["status"] == "fail" and "expired on" in check["detail"], check


def test_doctor_reads_the_generated_certificate(home: Path) -> None:
    assert "none yet" in doctor_tls(home)["detail"]
    state = home / "sfuctl"
    info = generate(state / CERT_NAME, state / KEY_NAME, ["127.0.0.1", "localhost"])
    check = doctor_tls(home)
    assert check["status"] == "ok" and "self-signed" in check["detail"] and info.subject in check["detail"]
