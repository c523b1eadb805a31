"""`sfuctl health`: one-screen summary of /health; exit 1 unless the server says 'ok'."""

from __future__ import annotations

import typer
from rich.table import Table

from sfuctl.api import CACERT, DEFAULT_URL, FINGERPRINT, ApiClient, run_or_fail, tls_trust
from sfuctl.common import ExitCode, human_duration, human_kib, print_json
from sfuctl.common import console as err_console
from sfuctl.server.http.models import Health

NAME = "health"

EPILOG = """[b]Examples[/b]

  sfuctl health

  sfuctl health --url http://sfu.internal:3001 --json | jq .workers

  sfuctl health -q || systemctl restart sfuctl

  sfuctl health --url https://sfu.internal:3001 --cacert tls-cert.pem

Exit code 0 when the status is ok, 1 when degraded or draining, 3 when the server does not answer.
"""

STATUS_STYLE = {"ok": "bold green", "degraded": "bold yellow", "draining": "bold yellow"}


async def fetch(
    url: str, timeout: float, cacert: str | None = None, fingerprint: str | None = None
) -> Health:
    async with ApiClient(url, timeout=timeout, trust=tls_trust(cacert, fingerprint)) as api:
        return await api.health()


def render(health: Health, url: str) -> None:
    from rich.console import Console

    out = Console(emoji=False)
    style = STATUS_STYLE.get(health.status, "bold red")
    out.print(
        f"[{style}]● {health.status}[/]  sfuctl {health.version} at {url}  "
        f"up {human_duration(health.uptime)}  rooms {health.rooms}  peers {health.peers}",
        highlight=False,
        soft_wrap=True,
    )
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("worker pid", justify="right")
    table.add_column("alive")
    for column in ("routers", "transports", "CPU time", "RSS"):
        table.add_column(column, justify="right")
    for worker in health.workers:
        # The worker reports CPU time in milliseconds.
        cpu = ((worker.cpuUser or 0) + (worker.cpuSystem or 0)) / 1000 if worker.cpuUser is not None else None
        table.add_row(
            str(worker.pid),
            "[green]yes[/]" if worker.alive else "[red]NO[/]",
            str(worker.routers),
            str(worker.transports),
            "-" if cpu is None else f"{cpu:.2f}s",
            human_kib(worker.rss / 1024 if worker.rss is not None else worker.maxRss),
        )
    out.print(table)
    turn = health.turn
    if turn is not None:
        state = f"[green]running[/] pid {turn.pid}" if turn.running else "[red]NOT running[/]"
        out.print(
            f"TURN (coturn): {state}  port {turn.port}  relay {turn.relayPorts}  restarts {turn.restarts}",
            highlight=False,
            soft_wrap=True,
        )


def health(
    url: str = typer.Option(DEFAULT_URL, envvar="SFUCTL_URL", help="Server to ask."),
    as_json: bool = typer.Option(False, "--json", help="Print the /health reply as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing; only the exit code."),
    timeout: float = typer.Option(5.0, help="Seconds to wait for the answer."),
    cacert: str | None = CACERT,
    fingerprint: str | None = FINGERPRINT,
) -> None:
    """Show the server's health: status, uptime, rooms, peers and each worker."""
    report = run_or_fail(fetch(url, timeout, cacert, fingerprint))
    if as_json:
        print_json(report.model_dump())
    elif not quiet:
        render(report, url)
    if report.status != "ok":
        if not (quiet or as_json):
            err_console.print(f"[yellow]server is {report.status}[/]")
        raise typer.Exit(int(ExitCode.FAILED))


command = health
