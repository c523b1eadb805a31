"""One place for defaults: the dataclasses. The CLI's options, its help and the README state theirs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from sfuctl.cli import app
from sfuctl.commands.serve import PARAMETER_KEYS
from sfuctl.server.config import ServerConfig
from sfuctl.server.limits import Limits
from sfuctl.server.media.worker import WorkerSettings
from sfuctl.server.turn.settings import TurnSettings

README = Path(__file__).resolve().parents[2] / "README.md"


def dataclass_default(dotted: str) -> Any:
    """The default of a dotted config key (``port``, ``worker.rtc_min_port``, ``limits.x``)."""
    section, _, name = dotted.rpartition(".")
    owners = {"": ServerConfig(), "worker": WorkerSettings(), "limits": Limits(), "turn": TurnSettings()}
    owner: Any = owners[section]
    return getattr(owner, name)


def serve_option(name: str) -> Any:
    """The click option behind a serve parameter (typer builds the command as `sfuctl` runs it)."""
    group: Any = typer.main.get_command(app)
    return next(p for p in group.commands["serve"].params if p.name == name)


DEFAULT_IN_HELP = re.compile(r"\\?\[default: ([^\]]+)\]")


@pytest.mark.parametrize("param", sorted(PARAMETER_KEYS))
def test_serve_option_defaults_are_the_dataclass_defaults(param: str) -> None:
    key = PARAMETER_KEYS[param]
    no_fixed_default = (
        "secret_file",
        "log_format",
        "webrtc_server_port",
        "announced_address",
        "api_key",
        "workers",
        "webhook_secret_file",
        "webhook_urls",
        "tls_cert",
        "tls_key",
        "tls_dir",
        "redis",
        "node_id",
        "public_url",
        "node_address",
        "recordings_dir",
    )  # fmt: skip; TLS files: none (generated)
    if key in no_fixed_default:
        pytest.skip(f"{key}: no fixed default (a file, a CLI-only format, detected, or off)")
    if key in ("turn.secret_file", "turn.ice_servers"):
        pytest.skip(f"{key}: no fixed default (a file in the config dir, or none)")
    opt = serve_option(param)
    expected = dataclass_default(key)
    if opt.default is not None:
        assert opt.default == expected, f"--{param} defaults to {opt.default!r}, {key} to {expected!r}"
    else:  # given only when set, so the file can set it; the help states the default
        assert opt.help
        shown = DEFAULT_IN_HELP.search(opt.help)
        assert shown is not None, opt.help
        assert float(shown.group(1)) == float(expected), (
            f"--{param} help says {shown.group(1)}, {key} is {expected}"
        )


def test_the_product_defaults_are_the_worker_settings_defaults() -> None:
    """What `sfuctl serve` runs with is what WorkerSettings() and ServerConfig() give in-process."""
    worker = WorkerSettings()
    assert (worker.rtc_min_port, worker.rtc_max_port, worker.log_level) == (40000, 49999, "warn")
    assert ServerConfig().worker == worker
    text = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["serve", "--help"]).stdout
    assert f"[default: {worker.rtc_min_port}]" in text and f"[default: {worker.log_level}]" in text
    assert f"[default: {Limits().max_peers_per_room}]" in text


def readme_config_rows() -> dict[str, str]:
    """flag cell -> default cell of the README's configuration table."""
    rows: dict[str, str] = {}
    for line in README.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`--"):
            rows[cells[0]] = cells[2]
    return rows


def test_readme_configuration_table_states_the_dataclass_defaults() -> None:
    rows = readme_config_rows()
    config, worker = ServerConfig(), WorkerSettings()
    assert rows["`--host` / `--port`"] == f"`{config.host}` / `{config.port}`"
    assert rows["`--rtc-min-port` / `--rtc-max-port`"] == f"`{worker.rtc_min_port}`-`{worker.rtc_max_port}`"
    assert rows["`--rtc-ip`"] == f"`{config.rtc_listen_ip}`"
    assert rows["`--login-mode` / `--api-key`"] == f"`{config.login_mode}`"
    assert rows["`--log-level` / `--log-format`"].startswith(f"`{config.log_level}` /")
    assert rows["`--worker-log-level`"] == f"`{worker.log_level}`"
