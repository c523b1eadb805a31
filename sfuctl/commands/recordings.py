"""`sfuctl recordings`: list the server's recordings, show one, download its files, delete it."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from sfuctl.api import CACERT, FINGERPRINT, ApiClient, run_or_fail
from sfuctl.commands.rooms import JSON, SECRET_FILE, TOKEN, URL, client, since
from sfuctl.common import EXIT_CODES_HELP, CliError, ExitCode, console, fail, print_json
from sfuctl.server.http.models import RecordingDetail, RecordingList
from sfuctl.server.recording.store import valid_id

NAME = "recordings"

app = typer.Typer(
    help="List the server's recordings, download their files, delete them (admin REST API).",
    epilog="""[b]Examples[/b]

  sfuctl recordings

  sfuctl recordings show rec-3f2a9c1e5b7d0a46

  sfuctl recordings get rec-3f2a9c1e5b7d0a46 -o ./lobby

  sfuctl recordings delete rec-3f2a9c1e5b7d0a46 --yes

"""
    + EXIT_CODES_HELP,
    invoke_without_command=True,
    rich_markup_mode="rich",
)


def recording_id(value: str) -> str:
    """Checked here: a malformed id is the caller's typo, not the server's business."""
    if not valid_id(value):
        fail(CliError(f"{value!r} is not a recording id (rec- and 16 hex digits)",
                      "`sfuctl recordings` lists them", ExitCode.USAGE))  # fmt: skip
    return value


RECORDING = typer.Argument(
    ..., help="Recording id (`sfuctl recordings` lists them).", callback=recording_id, show_default=False
)


def human_bytes(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def seconds(duration_ms: int | None) -> str:
    return "-" if duration_ms is None else f"{duration_ms / 1000:.1f} s"


async def fetch_list(api: ApiClient) -> RecordingList:
    async with api:
        return await api.recordings()


async def fetch_one(api: ApiClient, recording_id: str) -> RecordingDetail:
    async with api:
        return await api.recording(recording_id)


def list_recordings(api: ApiClient, as_json: bool) -> None:
    recordings = run_or_fail(fetch_list(api))
    if as_json:
        print_json(recordings.model_dump())
        return
    if not recordings.recordings:
        console.print("no recordings")
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("recording", "room", "state", "started", "files", "size", "reason"):
        table.add_column(column, justify="right" if column in ("files", "size") else "left")
    for r in recordings.recordings:
        table.add_row(r.id, r.roomId, r.state, since(r.startedAt), str(r.files), human_bytes(r.bytes),
                      r.reason or "")  # fmt: skip
    Console(emoji=False).print(table)


@app.callback()
def recordings(
    ctx: typer.Context,
    url: str = URL,
    token: str = TOKEN,
    secret_file: str = SECRET_FILE,
    cacert: str | None = CACERT,
    fingerprint: str | None = FINGERPRINT,
    as_json: bool = JSON,
) -> None:
    """List the recordings: room, state, files, size (subcommands: list, show, get, delete)."""
    if ctx.invoked_subcommand is None:
        list_recordings(client(url, token, secret_file, cacert, fingerprint), as_json)


@app.command("list")
def list_command(
    url: str = URL,
    token: str = TOKEN,
    secret_file: str = SECRET_FILE,
    cacert: str | None = CACERT,
    fingerprint: str | None = FINGERPRINT,
    as_json: bool = JSON,
) -> None:
    """List the recordings (same as plain `sfuctl recordings`)."""
    list_recordings(client(url, token, secret_file, cacert, fingerprint), as_json)


@app.command("show")
def show_command(
    recording: str = RECORDING,
    url: str = URL,
    token: str = TOKEN,
    secret_file: str = SECRET_FILE,
    cacert: str | None = CACERT,
    fingerprint: str | None = FINGERPRINT,
    as_json: bool = JSON,
) -> None:
    """Show one recording: its state and its files."""
    detail = run_or_fail(fetch_one(client(url, token, secret_file, cacert, fingerprint), recording))
    if as_json:
        print_json(detail.model_dump())
        return
    out = Console(emoji=False)
    reason = f" ({detail.reason})" if detail.reason else ""
    head = f"[b]{detail.id}[/]  room {detail.roomId}  {detail.state}{reason}  since {since(detail.startedAt)}"
    out.print(head, highlight=False, soft_wrap=True)
    table = Table(show_edge=False, pad_edge=False)
    for column in ("file", "user", "kind", "codec", "size", "duration"):
        table.add_column(column)
    for f in detail.files:
        table.add_row(f.name, f.userId, f.kind, f.mimeType, human_bytes(f.bytes), seconds(f.durationMs))
    out.print(table)


async def download(api: ApiClient, recording_id: str, directory: Path) -> list[tuple[Path, int]]:
    async with api:
        detail = await api.recording(recording_id)
        if detail.state == "recording":
            raise CliError(
                f"recording {recording_id} is still running",
                f"stop it first: `sfuctl record stop {detail.roomId} {recording_id}`",
                ExitCode.FAILED,
            )
        done = []
        for entry in detail.files:
            target = directory / entry.name
            done.append((target, await api.download(recording_id, entry.name, target)))
        return done


@app.command("get")
def get_command(
    recording: str = RECORDING,
    output: Path = typer.Option(  # noqa: B008
        Path("."), "--output", "-o", help="Directory to write the files into (created if missing)."
    ),
    url: str = URL,
    token: str = TOKEN,
    secret_file: str = SECRET_FILE,
    cacert: str | None = CACERT,
    fingerprint: str | None = FINGERPRINT,
) -> None:
    """Download every file of an ended recording into a directory."""
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        fail(CliError(f"cannot create {output}: {error.strerror or error}", "choose another -o directory",
                      ExitCode.USAGE))  # fmt: skip
    api = client(url, token, secret_file, cacert, fingerprint)
    for path, size in run_or_fail(download(api, recording, output)):
        console.print(f"{path}  {human_bytes(size)}", highlight=False)


async def delete(api: ApiClient, recording_id: str) -> None:
    async with api:
        await api.delete_recording(recording_id)


@app.command("delete")
def delete_command(
    recording: str = RECORDING,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    url: str = URL,
    token: str = TOKEN,
    secret_file: str = SECRET_FILE,
    cacert: str | None = CACERT,
    fingerprint: str | None = FINGERPRINT,
) -> None:
    """Delete an ended recording and its files on the server."""
    if not yes and not typer.confirm(f"Delete recording {recording} and its files?", err=True):
        console.print("aborted")
        raise typer.Exit(int(ExitCode.FAILED))
    run_or_fail(delete(client(url, token, secret_file, cacert, fingerprint), recording))
    console.print(f"deleted recording {recording}", highlight=False)
