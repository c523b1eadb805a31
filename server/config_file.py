"""The TOML config file of ``sfuctl serve``, and how it layers with flags and the environment.

Precedence is flag > env > file > default. Click already resolves flag over env; this module reads
the file, checks every key and value against the dataclasses it fills (so a typo or a wrong type
fails at start, naming the key), and applies the layers onto ServerConfig / WorkerSettings / Limits.

Keys are the dataclass field names: top-level ones are ServerConfig's (plus the CLI's own
``log_format`` and ``secret_file``), ``[worker]`` is WorkerSettings, ``[limits]`` is Limits.
Internally a setting is addressed by a dotted key: ``port``, ``worker.rtc_min_port``, ...
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_type_hints

import platformdirs
from pydantic import TypeAdapter, ValidationError

from sfuctl.server.config import ServerConfig
from sfuctl.server.limits import Limits
from sfuctl.server.media.worker import LOG_LEVELS as WORKER_LOG_LEVELS
from sfuctl.server.media.worker import WorkerSettings

CONFIG_ENV = "SFUCTL_CONFIG"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")

SECTIONS: dict[str, type[Any]] = {"worker": WorkerSettings, "limits": Limits}
SERVER_INTERNAL = {"secret", "secret_source", "worker", "limits"}
"""ServerConfig fields a file may not set: the secret goes through ``secret_file`` (never inline)."""
WORKER_INTERNAL = {"worker_bin"}
"""Set with SFUCTL_WORKER_BIN, which the worker finder reads itself."""
CLI_KEYS: dict[str, Any] = {"log_format": Literal["text", "json"], "secret_file": str}
"""Settings of the serve command that are not ServerConfig fields."""


class ConfigError(ValueError):
    """A bad config file, key or value; the message names the key and where it came from."""


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
            if not (section == "worker" and field.name in WORKER_INTERNAL):
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
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
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


def build_server_config(values: Mapping[str, Any], secret: str = "", secret_source: str = "") -> ServerConfig:
    """Apply dotted values over the dataclass defaults and check the whole."""
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
    config = ServerConfig(
        **top,
        secret=secret,
        secret_source=secret_source,
        worker=WorkerSettings(**sections["worker"]),
        limits=Limits(**sections["limits"]),
    )
    check_config(config)
    return config


def check_config(config: ServerConfig) -> None:
    """Cross-field and range checks the types alone do not express."""
    worker = config.worker
    problems = []
    if not 0 <= config.port <= 65535:
        problems.append(f"port {config.port} is not in 0-65535")
    if config.workers < 1:
        problems.append("workers must be at least 1")
    if not 1024 <= worker.rtc_min_port <= worker.rtc_max_port <= 65535:
        problems.append(
            f"RTC port range {worker.rtc_min_port}-{worker.rtc_max_port}: need 1024 <= min <= max <= 65535"
        )
    if config.log_level.lower() not in LOG_LEVELS:
        problems.append(f"log_level {config.log_level!r} is not one of {', '.join(LOG_LEVELS)}")
    if worker.log_level not in WORKER_LOG_LEVELS:
        problems.append(f"worker.log_level {worker.log_level!r} is not one of {', '.join(WORKER_LOG_LEVELS)}")
    for key in ("start_timeout", "request_timeout"):
        if not getattr(worker, key) > 0:
            problems.append(f"worker.{key} must be a positive number of seconds (got {getattr(worker, key)})")
    if config.login_mode == "apikey" and not config.api_key:
        problems.append("login_mode 'apikey' needs an api_key")
    if problems:
        raise ConfigError("; ".join(problems))
