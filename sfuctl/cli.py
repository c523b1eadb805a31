"""The `sfuctl` command: operate the SFU appliance."""

from __future__ import annotations

import platform

import typer
from rich.console import Console

from server import __version__
from server.auth import AuthError, resolve_secret
from server.config import ServerConfig
from server.media.worker import LOG_LEVELS, WorkerSettings
from server.media.worker_bin import MEDIASOUP_VERSION, WorkerBinaryNotFound, find_worker_bin
from sfuctl.doctor import run_doctor
from sfuctl.logs import setup_logging

app = typer.Typer(
    name="sfuctl",
    help="A self-hosted WebRTC SFU: the real mediasoup worker driven from Python.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
console = Console(stderr=True)


def _version_callback(value: bool) -> None:
    if value:
        show_version()
        raise typer.Exit()


@app.callback()
def main_options(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Show versions and exit."
    ),
) -> None:
    """sfuctl: run and operate the SFU."""


@app.command()
def serve(
    host: str = typer.Option("0.0.0.0", envvar="SFUCTL_HOST", help="Address to listen on."),
    port: int = typer.Option(3001, envvar="SFUCTL_PORT", help="HTTP and WebSocket port."),
    workers: int = typer.Option(
        0, envvar="SFUCTL_WORKERS", help="mediasoup workers to run (0: one per CPU core)."
    ),
    rtc_min_port: int = typer.Option(40000, envvar="SFUCTL_RTC_MIN_PORT", help="Lowest RTC port."),
    rtc_max_port: int = typer.Option(49999, envvar="SFUCTL_RTC_MAX_PORT", help="Highest RTC port."),
    log_level: str = typer.Option("info", envvar="SFUCTL_LOG_LEVEL", help="debug, info, warning, error."),
    worker_log_level: str = typer.Option(
        "warn", envvar="SFUCTL_WORKER_LOG_LEVEL", help="mediasoup worker log level: debug, warn, error, none."
    ),
    secret: str = typer.Option(
        None, envvar="SFUCTL_SECRET", help="JWT secret (HS256), 32+ bytes.", show_default=False
    ),
    secret_file: str = typer.Option(
        None, envvar="SFUCTL_SECRET_FILE", help="File holding the JWT secret (created on first run)."
    ),
    rtc_ip: str = typer.Option("0.0.0.0", envvar="SFUCTL_RTC_IP", help="Address media sockets bind to."),
    announced_address: str = typer.Option(
        None, envvar="SFUCTL_ANNOUNCED_ADDRESS", help="Address or hostname put in ICE candidates (NAT/cloud)."
    ),
) -> None:
    """Run the SFU server in the foreground.

    [b]Examples[/b]
      sfuctl serve
      sfuctl serve --port 8080 --workers 2 --rtc-min-port 50000 --rtc-max-port 50999
      SFUCTL_PORT=8080 sfuctl serve
    """
    from server.serve import run

    if worker_log_level not in LOG_LEVELS:
        raise typer.BadParameter(f"must be one of {', '.join(LOG_LEVELS)}", param_hint="--worker-log-level")
    setup_logging(log_level)
    try:
        resolved = resolve_secret(secret, secret_file, create=True)
    except AuthError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(2) from None
    config = ServerConfig(
        host=host,
        port=port,
        log_level=log_level,
        secret=resolved.value,
        secret_source=resolved.source,
        rtc_listen_ip=rtc_ip,
        announced_address=announced_address,
        worker=WorkerSettings(
            log_level=worker_log_level, rtc_min_port=rtc_min_port, rtc_max_port=rtc_max_port
        ),
    )
    if workers:
        config.workers = workers

    def ready(urls: list[str]) -> None:
        shown = f"http://127.0.0.1:{port}" if host == "0.0.0.0" else urls[0]
        console.print(f"[bold green]sfuctl[/] {__version__} listening on {', '.join(urls)}")
        console.print(f"  health: {shown}/health   docs: {shown}/docs   workers: {config.workers}   "
                      f"RTC ports: {rtc_min_port}-{rtc_max_port}")  # fmt: skip
        console.print(f"  secret: {config.secret_source}")

    try:
        run(config, ready)
    except WorkerBinaryNotFound as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(2) from None


def worker_version() -> str:
    try:
        binary = find_worker_bin()
    except WorkerBinaryNotFound:
        return "not found"
    # The worker only runs with the version it was built for; report what we spawn it with.
    return f"{MEDIASOUP_VERSION} ({binary})"


@app.command("version")
def show_version() -> None:
    """Show sfuctl, mediasoup worker and Python versions."""
    typer.echo(f"sfuctl {__version__}")
    typer.echo(f"mediasoup-worker {worker_version()}")
    typer.echo(f"python {platform.python_version()}")


@app.command()
def doctor() -> None:
    """Check the worker binary, its libraries and ports; say how to fix what is missing."""
    ok = run_doctor(console)
    raise typer.Exit(0 if ok else 1)


def main() -> None:
    app()
