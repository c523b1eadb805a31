"""`sfuctl version` (and `sfuctl --version`): what runs, for bug reports."""

from __future__ import annotations

import platform

import typer

from sfuctl.common import print_json
from sfuctl.server import __version__
from sfuctl.server.media.worker_bin import MEDIASOUP_VERSION, WorkerBinaryNotFound, find_worker_bin

NAME = "version"


def worker_version() -> tuple[str, str | None]:
    """The worker only runs with the version it was built for; report that and the binary used."""
    try:
        return MEDIASOUP_VERSION, find_worker_bin()
    except WorkerBinaryNotFound:
        return MEDIASOUP_VERSION, None


def show_version(as_json: bool = False) -> None:
    worker, binary = worker_version()
    if as_json:
        print_json({"sfuctl": __version__, "mediasoupWorker": worker, "workerBinary": binary,
                    "python": platform.python_version()})  # fmt: skip
        return
    typer.echo(f"sfuctl {__version__}")
    typer.echo(f"mediasoup-worker {worker} ({binary or 'binary not found: run `sfuctl doctor`'})")
    typer.echo(f"python {platform.python_version()}")


def version(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Show sfuctl, mediasoup worker and Python versions."""
    show_version(as_json)


command = version
