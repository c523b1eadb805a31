"""sfuctl commands that need no server: help, version, token, config layering, doctor, logs."""

from __future__ import annotations

import json
import logging
import socket
import urllib.parse
from pathlib import Path
from typing import Any

import jwt
import pytest
import typer
from typer.testing import CliRunner

from sfuctl.cli import app
from sfuctl.commands import serve as serve_command
from sfuctl.common import parse_duration
from sfuctl.logs import JsonFormatter
from sfuctl.server.auth import verify_token
from sfuctl.server.config import ServerConfig
from sfuctl.server.config_file import ConfigError, load_file
from tests.conftest import TEST_SECRET, free_port

NO_SECRET_ENV: dict[str, str | None] = {"SFUCTL_SECRET": None, "SFUCTL_SECRET_FILE": "/nonexistent/secret"}


def invoke(*args: str, env: dict[str, str | None] | None = None, input: str | None = None) -> Any:
    return CliRunner(env={"COLUMNS": "120", **(env or {})}).invoke(app, list(args), input=input)


def test_help_lists_commands_examples_and_exit_codes() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for name in ("serve", "token", "health", "rooms", "top", "doctor", "version"):
        assert name in result.stdout
    assert "Exit codes" in result.stdout and "3 server unreachable" in result.stdout
    assert "Examples" in invoke("rooms", "--help").stdout


@pytest.mark.parametrize("args", [["--version"], ["-V"], ["version"]])
def test_version(args: list[str]) -> None:
    result = invoke(*args)
    assert result.exit_code == 0
    assert result.stdout.startswith("sfuctl 0.1.0\nmediasoup-worker 3.27.1")
    assert "python 3." in result.stdout


def test_version_json() -> None:
    data = json.loads(invoke("version", "--json").stdout)
    assert data["sfuctl"] == "0.1.0" and data["mediasoupWorker"] == "3.27.1"


def test_token_prints_only_a_jwt_carrying_the_claims() -> None:
    result = invoke("token", "--room", "lobby", "--user", "ada", "--ttl", "30m", "--no-publish",
                    env={"SFUCTL_SECRET": TEST_SECRET})  # fmt: skip
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert result.stdout == token + "\n"
    claims = verify_token(token, TEST_SECRET)
    assert (claims.sub, claims.name, claims.room) == ("ada", "ada", "lobby")
    assert claims.grants.publish is False and claims.grants.subscribe is True and claims.grants.admin is False
    assert claims.iat is not None and claims.exp - claims.iat == 1800


def test_token_json_with_name_and_admin() -> None:
    result = invoke("token", "-r", "ops", "-u", "u1", "--name", "Ops Person", "--admin", "--json",
                    "--secret", TEST_SECRET)  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["claims"]["name"] == "Ops Person" and data["claims"]["grants"]["admin"] is True
    assert data["expiresAt"] == data["claims"]["exp"]
    decoded = jwt.decode(data["token"], TEST_SECRET, algorithms=["HS256"])
    assert decoded == data["claims"]


def test_token_without_secret_is_a_usage_error_with_a_hint() -> None:
    result = invoke("token", "--room", "lobby", "--user", "ada", env=NO_SECRET_ENV)
    assert result.exit_code == 2
    assert "no secret" in result.stderr and "hint:" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("url", "base"),
    [
        (None, "http://127.0.0.1:3001/"),  # the default server
        ("https://sfu.example.com:3001", "https://sfu.example.com:3001/"),
        ("https://sfu.example.com/meet/", "https://sfu.example.com/meet/"),  # behind a proxy path
        ("wss://sfu.example.com:3001/", "https://sfu.example.com:3001/"),  # the WebSocket's scheme
        ("ws://192.0.2.10:3001", "http://192.0.2.10:3001/"),
    ],
)
def test_token_link_is_a_ready_to_open_page_url(url: str | None, base: str) -> None:
    args = ["token", "-r", "standup", "-u", "ada", "-n", "Ada L", "--link", "--secret", TEST_SECRET]
    result = invoke(*args, *(["--url", url] if url else []), env={"SFUCTL_URL": None})
    assert result.exit_code == 0, result.output
    link = result.stdout.strip()
    assert result.stdout == link + "\n" and link.startswith(base + "?token=")
    claims = verify_token(urllib.parse.unquote(link.removeprefix(base + "?token=")), TEST_SECRET)
    assert (claims.sub, claims.name, claims.room) == ("ada", "Ada L", "standup")


def test_token_link_follows_sfuctl_url_and_goes_into_json() -> None:
    result = invoke("token", "-r", "r", "-u", "bob", "--link", "--json", "--secret", TEST_SECRET,
                    env={"SFUCTL_URL": "https://team.example.org"})  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["link"] == f"https://team.example.org/?token={data['token']}"


@pytest.mark.parametrize("url", ["sfu.example.com:3001", "ftp://sfu.example.com", "https://"])
def test_token_link_with_a_bad_url_is_a_usage_error(url: str) -> None:
    result = invoke("token", "-r", "r", "-u", "u", "--link", "--url", url, "--secret", TEST_SECRET)
    assert result.exit_code == 2, result.output
    assert "is not a server URL" in result.stderr and "hint:" in result.stderr and result.stdout == ""


@pytest.mark.parametrize("ttl", ["abc", "0", "1x", "-5m"])
def test_token_rejects_bad_ttl(ttl: str) -> None:
    result = invoke("token", "--room", "l", "--user", "u", "--ttl", ttl, "--secret", TEST_SECRET)
    assert result.exit_code == 2


def test_token_rejects_bad_room() -> None:
    assert invoke("token", "--room", "no spaces", "--user", "u", "--secret", TEST_SECRET).exit_code == 2


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("1h", 3600), ("1h30m", 5400), ("2d", 172800), ("45", 45)],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_parse_duration_rejects_garbage() -> None:
    with pytest.raises(typer.BadParameter):
        parse_duration("1h and a bit")


# -- serve: flag > env > file > default ---------------------------------------------------------


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[ServerConfig]:
    """Replace the server start: these tests check the resolved configuration only."""
    configs: list[ServerConfig] = []
    monkeypatch.setattr(serve_command, "start", lambda config, path: configs.append(config))
    monkeypatch.setattr(serve_command, "setup_logging", lambda level, fmt: None)
    return configs


CONFIG_TOML = """
host = "127.0.0.2"
port = 4100
workers = 3
announced_address = "sfu.example.com"
login_mode = "apikey"
api_key = "k"
[worker]
rtc_min_port = 42000
rtc_max_port = 42999
log_level = "debug"
[limits]
max_peers_per_room = 7
room_grace_seconds = 1.5
"""


def test_serve_precedence_flag_env_file_default(tmp_path: Path, captured: list[ServerConfig]) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text(CONFIG_TOML)
    env = {"SFUCTL_SECRET": TEST_SECRET, "SFUCTL_PORT": "4200", "SFUCTL_WORKERS": "5", "SFUCTL_CONFIG": None}
    args = ["--config", str(config_file), "--workers", "2", "--limit", "max_producers_per_peer=3"]
    result = invoke("serve", *args, env=env)
    assert result.exit_code == 0, result.output
    config = captured[0]
    assert config.workers == 2  # flag beats env and file
    assert config.port == 4200  # env beats file
    assert config.host == "127.0.0.2" and config.announced_address == "sfu.example.com"  # file beats default
    assert (config.worker.rtc_min_port, config.worker.rtc_max_port, config.worker.log_level) == (
        42000,
        42999,
        "debug",
    )
    assert config.limits.max_peers_per_room == 7 and config.limits.room_grace_seconds == 1.5
    assert config.limits.max_producers_per_peer == 3
    assert config.login_mode == "apikey" and config.api_key == "k"
    assert config.log_level == "info" and config.enable_tcp is True  # defaults
    assert config.secret == TEST_SECRET and config.secret_source == "env SFUCTL_SECRET"


def test_serve_defaults_without_file(tmp_path: Path, captured: list[ServerConfig]) -> None:
    env = {"SFUCTL_SECRET": TEST_SECRET, "SFUCTL_CONFIG": None, "XDG_CONFIG_HOME": str(tmp_path)}
    result = invoke("serve", "--no-tcp", "--max-peers-per-room", "9", env=env)
    assert result.exit_code == 0, result.output
    config = captured[0]
    assert (config.host, config.port) == ("0.0.0.0", 3001)
    assert (config.worker.rtc_min_port, config.worker.rtc_max_port, config.worker.log_level) == (
        40000,
        49999,
        "warn",
    )
    assert config.enable_tcp is False and config.limits.max_peers_per_room == 9


def test_serve_reads_the_default_config_location(tmp_path: Path, captured: list[ServerConfig]) -> None:
    (tmp_path / "sfuctl").mkdir()
    (tmp_path / "sfuctl" / "config.toml").write_text("port = 4321\n")
    env = {"SFUCTL_SECRET": TEST_SECRET, "SFUCTL_CONFIG": None, "XDG_CONFIG_HOME": str(tmp_path)}
    assert invoke("serve", env=env).exit_code == 0
    assert captured[0].port == 4321


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("prot = 1\n", "did you mean 'port'"),
        ("port = 'x'\n", "port"),
        ("[worker]\nrtc_min_port = 2000\nrtc_max_port = 1500\n", "RTC port range"),
        ("login_mode = 'apikey'\n", "needs an api_key"),
        ("[limits]\nnope = 1\n", "limits.nope"),
        ("port = \n", "not valid TOML"),
        ("secret = 'inline-secrets-are-not-allowed-in-files'\n", "unknown setting 'secret'"),
    ],
)
def test_serve_bad_config_is_a_usage_error(tmp_path: Path, captured: list[ServerConfig], toml: str,
                                           message: str) -> None:  # fmt: skip
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    result = invoke("serve", "--config", str(path), env={"SFUCTL_SECRET": TEST_SECRET})
    assert result.exit_code == 2
    assert message in result.stderr and "hint:" in result.stderr
    assert captured == []


def test_serve_missing_explicit_config_file(tmp_path: Path, captured: list[ServerConfig]) -> None:
    result = invoke("serve", "--config", str(tmp_path / "missing.toml"), env={"SFUCTL_SECRET": TEST_SECRET})
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_load_file_checks_types(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("enable_tcp = 1\n")
    with pytest.raises(ConfigError, match="enable_tcp"):
        load_file(path)
    path.write_text("log_format = 'json'\n[limits]\nrequests_per_second = 20\n")
    assert load_file(path) == {"log_format": "json", "limits.requests_per_second": 20}


def test_serve_banner_lists_urls_workers_ports_and_secret() -> None:
    config = ServerConfig(host="0.0.0.0", port=3001, workers=2, secret_source="/etc/sfuctl/secret")
    lines = serve_command.banner(config, ["http://0.0.0.0:3001"], None)
    text = "\n".join(lines)
    assert "listening on http://0.0.0.0:3001" in text
    assert "docs: http://127.0.0.1:3001/docs" in text and "workers: 2" in text
    worker = config.worker
    assert (
        f"RTC ports: {worker.rtc_min_port}-{worker.rtc_max_port}" in text
        and "secret: /etc/sfuctl/secret" in text
    )


# -- doctor, health without a server, logs ------------------------------------------------------


def test_doctor_passes_on_this_machine(tmp_path: Path) -> None:
    env = {"SFUCTL_SECRET": TEST_SECRET, "SFUCTL_CONFIG": None, "XDG_CONFIG_HOME": str(tmp_path)}
    result = invoke("doctor", "--port", str(free_port()), "--json", env=env)
    data = json.loads(result.stdout)
    assert result.exit_code == 0, data
    names = {check["name"]: check for check in data["checks"]}
    assert names["worker binary"]["status"] == "ok"
    assert names["worker starts"]["status"] == "ok"
    assert names["secret"]["detail"] == "from env SFUCTL_SECRET"


def test_doctor_fails_on_a_busy_port_and_says_how_to_fix() -> None:
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = invoke("doctor", "--port", str(port), "--no-start", env={"SFUCTL_SECRET": TEST_SECRET})
    assert result.exit_code == 1
    assert "FAIL" in result.stdout and "choose another --port" in result.stdout


def test_doctor_reports_a_missing_worker_binary() -> None:
    result = invoke(
        "doctor", "--no-start", "--json", env={"SFUCTL_WORKER_BIN": "/nonexistent/mediasoup-worker"}
    )
    data = json.loads(result.stdout)
    assert result.exit_code == 1
    assert data["checks"][0]["status"] == "fail" and "SFUCTL_WORKER_BIN" in data["checks"][0]["fix"]


def test_health_of_nothing_listening_exits_3() -> None:
    result = invoke("health", "--url", f"http://127.0.0.1:{free_port()}", "--timeout", "2")
    assert result.exit_code == 3
    assert "cannot reach" in result.stderr and "hint:" in result.stderr


def test_json_log_lines() -> None:
    record = logging.LogRecord("sfuctl.worker", logging.WARNING, __file__, 1, "worker %s died", (42,), None)
    record.pid = 42
    line = JsonFormatter().format(record)
    data = json.loads(line)
    assert data["level"] == "warning" and data["logger"] == "sfuctl.worker"
    assert data["msg"] == "worker 42 died" and data["pid"] == 42 and data["ts"].endswith("+00:00")


# -- serve: webhooks ----------------------------------------------------------------------------


def test_webhook_urls_from_flags_env_and_file_and_a_generated_secret(
    tmp_path: Path, captured: list[ServerConfig]
) -> None:
    hooks_env = ("SFUCTL_WEBHOOK_SECRET", "SFUCTL_WEBHOOK_SECRET_FILE", "SFUCTL_WEBHOOK_URLS")
    base = {"SFUCTL_SECRET": TEST_SECRET, "SFUCTL_CONFIG": None, "XDG_CONFIG_HOME": str(tmp_path),
            **dict.fromkeys(hooks_env)}  # fmt: skip
    flags = ["--webhook-url", "http://127.0.0.1:9/a", "--webhook-url", "https://hooks.example.com/b"]
    assert invoke("serve", *flags, env=base).exit_code == 0
    config = captured[-1]
    assert config.webhook_urls == ["http://127.0.0.1:9/a", "https://hooks.example.com/b"]
    secret_file = tmp_path / "sfuctl" / "webhook-secret"
    assert config.webhook_secret_source == str(secret_file)
    assert (secret_file.stat().st_mode & 0o777) == 0o600
    assert secret_file.read_text().strip() == config.webhook_secret and len(config.webhook_secret) >= 32
    assert config.webhook_secret != config.secret
    # The same secret on the next start; env URLs are space-separated.
    env = {**base, "SFUCTL_WEBHOOK_URLS": "http://127.0.0.1:9/x http://127.0.0.1:9/y"}
    assert invoke("serve", env=env).exit_code == 0
    assert captured[-1].webhook_urls == ["http://127.0.0.1:9/x", "http://127.0.0.1:9/y"]
    assert captured[-1].webhook_secret == config.webhook_secret
    path = tmp_path / "c.toml"
    path.write_text('webhook_urls = ["http://127.0.0.1:9/toml"]\n')
    own = {**base, "SFUCTL_WEBHOOK_SECRET": "w" * 40}
    assert invoke("serve", "--config", str(path), env=own).exit_code == 0
    assert captured[-1].webhook_urls == ["http://127.0.0.1:9/toml"]
    assert (captured[-1].webhook_secret, captured[-1].webhook_secret_source) == (
        "w" * 40,
        "env SFUCTL_WEBHOOK_SECRET",
    )
    # No URL: no secret file is made.
    other = tmp_path / "other"
    assert invoke("serve", env={**base, "XDG_CONFIG_HOME": str(other)}).exit_code == 0
    assert captured[-1].webhook_urls == [] and not (other / "sfuctl" / "webhook-secret").exists()


@pytest.mark.parametrize("url", ["ftp://example.com/x", "hooks.example.com", "http://", "http://[::1"])
def test_a_bad_webhook_url_is_a_usage_error(url: str, tmp_path: Path, captured: list[ServerConfig]) -> None:
    env = {"SFUCTL_SECRET": TEST_SECRET, "SFUCTL_WEBHOOK_SECRET": "w" * 40, "SFUCTL_CONFIG": None,
           "XDG_CONFIG_HOME": str(tmp_path)}  # fmt: skip
    result = invoke("serve", "--webhook-url", url, env=env)
    assert result.exit_code == 2, result.output
    assert "webhook url" in result.stderr and "hint: --webhook-url takes" in result.stderr
    assert captured == []


def test_a_short_webhook_secret_is_a_usage_error(tmp_path: Path, captured: list[ServerConfig]) -> None:
    env = {"SFUCTL_SECRET": TEST_SECRET, "SFUCTL_CONFIG": None, "XDG_CONFIG_HOME": str(tmp_path)}
    result = invoke("serve", "--webhook-url", "http://127.0.0.1:9/", "--webhook-secret", "short", env=env)
    assert result.exit_code == 2 and "--webhook-secret is too short" in result.stderr


def test_the_console_prints_text_as_given_without_emoji_codes() -> None:
    """A fingerprint such as 58:CD:1E must not turn into '58💿1E' (rich's emoji codes)."""
    from sfuctl.common import console

    with console.capture() as captured:
        console.print("SHA-256 fingerprint: 58:CD:1E:12 user :smile:", highlight=False)
    assert captured.get().strip() == "SHA-256 fingerprint: 58:CD:1E:12 user :smile:"
