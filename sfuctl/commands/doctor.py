"""`sfuctl doctor`: run the checks of sfuctl.doctor and show them with their fixes."""

from __future__ import annotations

from dataclasses import asdict

import typer
from rich.console import Console
from rich.table import Table

from sfuctl.common import ExitCode, print_json
from sfuctl.doctor import DoctorOptions, run_checks
from sfuctl.server.config import ServerConfig

NAME = "doctor"

EPILOG = """[b]Examples[/b]

  sfuctl doctor

  sfuctl doctor --port 8080 --json

  sfuctl doctor --tls   (the certificate: subject, names, expiry; warns 30 days ahead)

  sfuctl doctor --turn --tls   (coturn, its UDP/TCP port and its turns: port)

  sfuctl doctor --config /etc/sfuctl/config.toml   (its ports, addresses and settings, as serve reads them)

Exit code 0 when nothing failed (warnings allowed), 1 otherwise.
"""

SERVER = ServerConfig()
WORKER = SERVER.worker
FROM_CONFIG = "\\[default: from --config, else {}]"
"""Doctor checks what `sfuctl serve` would run: the config file's value, else the server's default."""

MARKS = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]"}


def doctor(
    port: int = typer.Option(
        None,
        envvar="SFUCTL_PORT",
        help=f"HTTP port to check.  {FROM_CONFIG.format(SERVER.port)}",
        show_default=False,
    ),
    rtc_min_port: int = typer.Option(
        None,
        envvar="SFUCTL_RTC_MIN_PORT",
        help=f"Lowest RTC port.  {FROM_CONFIG.format(WORKER.rtc_min_port)}",
        show_default=False,
    ),
    rtc_max_port: int = typer.Option(
        None,
        envvar="SFUCTL_RTC_MAX_PORT",
        help=f"Highest RTC port.  {FROM_CONFIG.format(WORKER.rtc_max_port)}",
        show_default=False,
    ),
    secret_file: str = typer.Option(
        None, envvar="SFUCTL_SECRET_FILE", help="Secret file.", show_default=False
    ),
    config_file: str = typer.Option(
        None, "--config", "-c", envvar="SFUCTL_CONFIG", help="Config file to check.", show_default=False
    ),
    tls: bool = typer.Option(
        None,
        "--tls/--no-tls",
        envvar="SFUCTL_TLS",
        help="Check the TLS certificate serve --tls would use.",
        show_default=False,
    ),
    tls_cert: str = typer.Option(
        None, envvar="SFUCTL_TLS_CERT", help="Given certificate.", show_default=False
    ),
    tls_key: str = typer.Option(None, envvar="SFUCTL_TLS_KEY", help="Its key.", show_default=False),
    tls_dir: str = typer.Option(
        None, envvar="SFUCTL_TLS_DIR", help="Dir of the generated certificate.", show_default=False
    ),
    redis: str = typer.Option(
        None, envvar="SFUCTL_REDIS_URL", help="The cluster's Redis to check.", show_default=False
    ),
    turn: bool = typer.Option(
        None,
        "--turn/--no-turn",
        envvar="SFUCTL_TURN",
        help="Check what serve --turn needs: coturn, its ports (and turns: with --tls).",
        show_default=False,
    ),
    turn_port: int = typer.Option(None, envvar="SFUCTL_TURN_PORT", help="TURN port.", show_default=False),
    turn_tls_port: int = typer.Option(
        None, envvar="SFUCTL_TURN_TLS_PORT", help="TURN over TLS port.", show_default=False
    ),
    turn_ip: str = typer.Option(None, envvar="SFUCTL_TURN_IP", help="TURN address.", show_default=False),
    turn_min_port: int = typer.Option(
        None, envvar="SFUCTL_TURN_MIN_PORT", help="Lowest relay port.", show_default=False
    ),
    turn_max_port: int = typer.Option(
        None, envvar="SFUCTL_TURN_MAX_PORT", help="Highest relay port.", show_default=False
    ),
    start: bool = typer.Option(True, "--start/--no-start", help="Start a worker once to prove it runs."),
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
) -> None:
    """Check the worker binary, its libraries, ports, secret, TLS certificate and config; say how to fix."""
    options = DoctorOptions(port, rtc_min_port, rtc_max_port, secret_file, config_file, start, tls,
                            tls_cert, tls_key, tls_dir, turn, turn_port, turn_tls_port, turn_ip,
                            turn_min_port, turn_max_port)  # fmt: skip
    options.redis = redis
    results = run_checks(options)
    if as_json:
        print_json({"ok": all(r.ok for r in results), "checks": [asdict(r) for r in results]})
    else:
        table = Table(title="sfuctl doctor", show_edge=False)
        for column in ("check", "", "detail", "fix"):
            table.add_column(column)
        for r in results:
            table.add_row(r.name, MARKS[r.status], r.detail, r.fix)
        Console(emoji=False).print(table)
    raise typer.Exit(int(ExitCode.OK if all(r.ok for r in results) else ExitCode.FAILED))


command = doctor
