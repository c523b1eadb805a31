"""The TOML config file of ``sfuctl serve``, and how it layers with flags and the environment.

Precedence is flag > env > file > default. Click already resolves flag over env; this module reads
the file, checks every key and value against the dataclasses it fills (so a typo or a wrong type
fails at start, naming the key), and applies the layers onto ServerConfig / WorkerSettings / Limits.

Keys are the dataclass field names: top-level ones are ServerConfig's (plus the CLI's own
``log_format`` and ``secret_file``), ``[worker]`` is WorkerSettings, ``[limits]`` is Limits,
``[turn]`` is TurnSettings.
Internally a setting is addressed by a dotted key: ``port``, ``worker.rtc_min_port``, ...
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_type_hints
from urllib.parse import urlsplit

import platformdirs
from pydantic import TypeAdapter, ValidationError

from sfuctl.server.config import ServerConfig
from sfuctl.server.limits import Limits
from sfuctl.server.media.worker import LOG_LEVELS as WORKER_LOG_LEVELS
from sfuctl.server.media.worker import WorkerSettings
from sfuctl.server.turn.settings import TurnSettings

CONFIG_ENV = "SFUCTL_CONFIG"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")

SECTIONS: dict[str, type[Any]] = {"worker": WorkerSettings, "limits": Limits, "turn": TurnSettings}
SERVER_INTERNAL = {
    "secret",
    "secret_source",
    "webhook_secret",
    "webhook_secret_source",
    "worker",
    "limits",
    "turn",
}
"""ServerConfig fields a file may not set: secrets go through ``secret_file`` and
``webhook_secret_file`` (never inline)."""
WORKER_INTERNAL = {"worker_bin"}
"""Set with SFUCTL_WORKER_BIN, which the worker finder reads itself."""
SECTION_INTERNAL = {"worker": WORKER_INTERNAL, "turn": {"secret", "secret_source"}}
"""Section fields a file may not set (the TURN secret goes through ``turn.secret_file``)."""
CLI_KEYS: dict[str, Any] = {
    "log_format": Literal["text", "json"], "secret_file": str, "webhook_secret_file": str,
}  # fmt: skip
"""Settings of the serve command that are not ServerConfig fields."""


class ConfigError(ValueError):
    """A bad config file, key or value; the message names the key and where it came from.

    ``hint`` says what to do about it, when that is more than "see the help".
    """

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir("sfuctl")) / "config.toml"


@cache
def schema() -> dict[str, Any]:
    """Every settable dotted key and its type."""
    keys: dict[str, Any] = {}
    server_hints = get_type_hints(ServerConfig)
    for field in dataclasses.fields(ServerConfig):
        if field.name not in SERVER_INTERNAL:
            keys[field.name] = server_hints[field.name]
    for section, cls in SECTIONS.items():
        hints = get_type_hints(cls)
        for field in dataclasses.fields(cls):
            if field.name not in SECTION_INTERNAL.get(section, set()):
                keys[f"{section}.{field.name}"] = hints[field.name]
    keys.update(CLI_KEYS)
    return keys


@cache
def _adapter(key: str) -> TypeAdapter[Any]:
    return TypeAdapter(schema()[key])


def check_value(key: str, value: Any, where: str) -> Any:
    """The value if the key exists and the value has its type; ConfigError otherwise."""
    keys = schema()
    if key not in keys:
        close = difflib.get_close_matches(key, list(keys), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{where}: unknown setting {key!r}{hint}")
    try:
        return _adapter(key).validate_python(value, strict=True)
    except ValidationError as error:
        raise ConfigError(f"{where}: {key}: {error.errors()[0]['msg']} (got {value!r})") from None


def load_file(path: Path) -> dict[str, Any]:
    """Read a TOML file into checked dotted keys."""
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: [{key}] must be a table")
            for sub, sub_value in value.items():
                dotted = f"{key}.{sub}"
                values[dotted] = check_value(dotted, sub_value, str(path))
        else:
            values[key] = check_value(key, value, str(path))
    return values


def find_config_file(flag: str | None) -> Path | None:
    """--config (or SFUCTL_CONFIG) must exist; the default location is optional."""
    explicit = flag or os.environ.get(CONFIG_ENV)
    if explicit:
        path = Path(explicit).expanduser()
        if path.is_dir():
            raise ConfigError(
                f"config file {path} is a directory", "--config (SFUCTL_CONFIG) takes a TOML file"
            )
        if not path.is_file():
            raise ConfigError(
                f"config file {path} does not exist", "--config (SFUCTL_CONFIG) takes a TOML file"
            )
        return path
    default = default_config_path()
    return default if default.is_file() else None


def parse_assignment(text: str) -> tuple[str, Any]:
    """'max_peers_per_room=50' → ('max_peers_per_room', 50): the value is read as TOML, else a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{text!r} is not KEY=VALUE")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.strip(), value


def layered(file_values: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """File values, then overrides (flags and env, already merged by click), each checked."""
    merged = dict(file_values)
    for key, value in overrides.items():
        merged[key] = check_value(key, value, "option")
    return merged


def build_server_config(
    values: Mapping[str, Any],
    secret: str = "",
    secret_source: str = "",
    turn_secret: tuple[str, str] = ("", ""),
) -> ServerConfig:
    """Apply dotted values over the dataclass defaults and check the whole.

    ``turn_secret`` is (value, source) of the TURN secret, when TURN needs one.
    """
    config = apply_values(values, secret, secret_source)
    config.turn.secret, config.turn.secret_source = turn_secret
    check_config(config)
    return config


def apply_values(values: Mapping[str, Any], secret: str = "", secret_source: str = "") -> ServerConfig:
    """Dotted values over the dataclass defaults, not yet checked as a whole (see check_config)."""
    top: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    for key, value in values.items():
        if key in CLI_KEYS:
            continue
        section, dot, name = key.partition(".")
        if dot:
            sections[section][name] = value
        else:
            top[key] = value
    return ServerConfig(
        **top,
        secret=secret,
        secret_source=secret_source,
        worker=WorkerSettings(**sections["worker"]),
        limits=Limits(**sections["limits"]),
        turn=TurnSettings(**sections["turn"]),
    )


ICE_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")


def check_turn(config: ServerConfig, problem: Callable[[str, str], None]) -> None:
    """Ports, the relay range (apart from the RTC range) and the --ice-server URLs."""
    turn, worker = config.turn, config.worker
    for name, value, flag in (
        ("turn.port", turn.port, "--turn-port"),
        ("turn.tls_port", turn.tls_port, "--turn-tls-port"),
    ):
        if not 1 <= value <= 65535:
            problem(f"{name} {value} is not in 1-65535", f"{flag} takes 1-65535")
    if turn.enabled and turn.port == turn.tls_port:
        problem(f"turn.port and turn.tls_port are both {turn.port}", "give --turn-tls-port another port")
    low, high = turn.relay_min_port, turn.relay_max_port
    if not 1024 <= low <= high <= 65535:
        problem(
            f"TURN relay port range {low}-{high}: need 1024 <= min <= max <= 65535",
            "set --turn-min-port and --turn-max-port (turn.relay_min_port/relay_max_port)",
        )
    elif turn.enabled and low <= worker.rtc_max_port and worker.rtc_min_port <= high:
        problem(
            f"TURN relay ports {low}-{high} overlap the RTC ports "
            f"{worker.rtc_min_port}-{worker.rtc_max_port}",
            "give the relay its own range (--turn-min-port/--turn-max-port) or move the RTC range",
        )
    if not is_ip(turn.listen_ip):
        problem(
            f"turn.listen_ip {turn.listen_ip!r} is not an IP address",
            "--turn-ip takes an IP address of this machine",
        )
    if turn.credential_ttl_seconds < 60:
        problem(
            f"turn.credential_ttl_seconds {turn.credential_ttl_seconds} is under 60",
            "--turn-ttl takes 60 s or more",
        )
    for url in turn.ice_servers:
        if not url.startswith(ICE_SCHEMES) or len(url.split(":", 1)[1]) == 0:
            problem(
                f"--ice-server {url!r} is not a stun:, stuns:, turn: or turns: URL",
                "e.g. --ice-server turn:turn.example.com:3478?transport=udp",
            )


HOSTNAME_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_hostname(text: str) -> bool:
    """RFC 1123 syntax; a last label of digits only is a mistyped IP (999.1.1.1), not a name."""
    name = text[:-1] if text.endswith(".") else text
    labels = name.split(".")
    return (
        0 < len(name) <= 253
        and all(HOSTNAME_LABEL.fullmatch(label) for label in labels)
        and not labels[-1].isdigit()
    )


def is_webhook_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a bad port or an unclosed IPv6 bracket
        return False


REDIS_SCHEMES = ("redis", "rediss", "unix")
NODE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_cluster(config: ServerConfig, problem: Callable[[str, str], None]) -> None:
    """--redis and the node's own settings (only looked at with --redis)."""
    if config.redis is None:
        return
    try:
        scheme = urlsplit(config.redis).scheme
    except ValueError:
        scheme = ""
    if scheme not in REDIS_SCHEMES:
        problem(f"redis {config.redis!r} is not a redis://, rediss:// or unix:// URL",
                "--redis takes e.g. redis://10.0.0.5:6379/0")  # fmt: skip
    if config.node_id is not None and not NODE_ID.fullmatch(config.node_id):
        problem(f"node_id {config.node_id!r}: letters, digits, '.', '_', '-' (1-64, no ':')",
                "--node-id takes e.g. sfu-1")  # fmt: skip
    if config.node_address is not None and (not is_ip(config.node_address) or config.node_address in (
        "0.0.0.0", "::"
    )):  # fmt: skip
        problem(f"node_address {config.node_address!r} is not an IP address of this machine",
                "--node-address takes the IP other nodes reach this one at (e.g. 10.0.0.11)")  # fmt: skip
    if config.public_url is not None and not is_webhook_url(config.public_url):
        problem(f"public_url {config.public_url!r} is not an http:// or https:// URL",
                "--public-url takes e.g. https://sfu1.example.com")  # fmt: skip
    if not 2 <= config.node_ttl_seconds <= 60:
        problem(f"node_ttl_seconds {config.node_ttl_seconds} is not in 2-60",
                "--node-ttl takes 2-60 seconds")  # fmt: skip


def check_config(config: ServerConfig) -> None:
    """Cross-field, range and address checks the types alone do not express.

    ``sfuctl serve`` and ``sfuctl doctor`` both run it, so doctor rejects exactly what serve does.
    """
    worker = config.worker
    problems: list[tuple[str, str]] = []

    def problem(message: str, hint: str) -> None:
        problems.append((message, hint))

    if not 0 <= config.port <= 65535:
        problem(f"port {config.port} is not in 0-65535", "--port takes 1-65535 (0: any free port)")
    if not (is_ip(config.host) or is_hostname(config.host)):
        problem(
            f"host {config.host!r} is neither an IP address nor a hostname",
            "--host takes an address of this machine: 0.0.0.0 (all), 127.0.0.1, ::",
        )
    if not is_ip(config.rtc_listen_ip):
        problem(
            f"rtc_listen_ip {config.rtc_listen_ip!r} is not an IP address",
            "--rtc-ip takes an IP address of this machine (0.0.0.0: all interfaces)",
        )
    announced = config.announced_address
    if announced is not None and not (is_ip(announced) or is_hostname(announced)):
        problem(
            f"announced_address {announced!r} is neither an IP address nor a hostname",
            "--announced-address takes the public IP or DNS name clients reach",
        )
    if config.workers < 1:
        problem("workers must be at least 1", "--workers takes 1 or more")
    if config.limits.consumers_per_router < 1:
        problem(
            f"consumers_per_router must be at least 1 (got {config.limits.consumers_per_router})",
            "--limit consumers_per_router=N: consumers a room's router takes before the room spreads",
        )
    if not 0 <= config.limits.spread_cpu_percent:
        problem(
            f"spread_cpu_percent must be 0 or more (got {config.limits.spread_cpu_percent})",
            "--limit spread_cpu_percent=P: % of a core past which a room's new peers go to another worker",
        )
    if config.limits.key_frame_request_delay_ms < 0:
        problem(
            f"key_frame_request_delay_ms must be 0 or more (got {config.limits.key_frame_request_delay_ms})",
            "--limit key_frame_request_delay_ms=MS (0: every key-frame request at once)",
        )
    low, high = worker.rtc_min_port, worker.rtc_max_port
    if not 1024 <= low <= high <= 65535:
        problem(
            f"RTC port range {low}-{high}: need 1024 <= min <= max <= 65535",
            "set --rtc-min-port and --rtc-max-port (worker.rtc_min_port/rtc_max_port)",
        )
    single = config.webrtc_server_port
    if single is not None and not 1024 <= single <= 65536 - config.workers:
        problem(
            f"webrtc_server_port {single}: ports {single}-{single + config.workers - 1} not in 1024-65535",
            "--webrtc-server-port takes 1024-65535, one port per worker from there",
        )
    if config.log_level.lower() not in LOG_LEVELS:
        levels = ", ".join(LOG_LEVELS)
        problem(f"log_level {config.log_level!r} is not one of {levels}", f"--log-level takes {levels}")
    if worker.log_level not in WORKER_LOG_LEVELS:
        levels = ", ".join(WORKER_LOG_LEVELS)
        problem(
            f"worker.log_level {worker.log_level!r} is not one of {levels}",
            f"--worker-log-level takes {levels}",
        )
    for key in ("start_timeout", "request_timeout"):
        value = getattr(worker, key)
        if not value > 0:
            problem(f"worker.{key} must be a positive number of seconds (got {value})",
                    f"set [worker] {key} to more than 0")  # fmt: skip
    if (config.tls_cert is None) != (config.tls_key is None):
        given, missing = ("tls_cert", "--tls-key") if config.tls_cert else ("tls_key", "--tls-cert")
        problem(f"{given} is set without its pair", f"give {missing} too (neither: a generated certificate)")
    if (config.tls_cert or config.tls_key) and not config.tls:  # tls_dir alone is fine: a unit may set it
        problem("tls_cert and tls_key need tls on", "add --tls (SFUCTL_TLS=1, tls = true)")
    if not 0 <= config.tls_watch_seconds <= 86400:
        problem(
            f"tls_watch_seconds {config.tls_watch_seconds} is not in 0-86400",
            "--tls-watch-seconds takes seconds between checks (0: reload on SIGHUP only)",
        )
    check_turn(config, problem)
    for url in config.webhook_urls:
        if not is_webhook_url(url):
            problem(f"webhook url {url!r} is not an http:// or https:// URL with a host",
                    "--webhook-url takes e.g. https://hooks.example.com/sfuctl")  # fmt: skip
    check_cluster(config, problem)
    if config.login_mode == "apikey" and not config.api_key:
        problem("login_mode 'apikey' needs an api_key", "give --api-key (or SFUCTL_API_KEY)")
    if problems:
        raise ConfigError("; ".join(m for m, _ in problems), "; ".join(dict.fromkeys(h for _, h in problems)))
