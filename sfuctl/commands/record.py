"""`sfuctl record start|stop`: start and stop recording a room (admin REST API)."""

from __future__ import annotations

import typer

from sfuctl.api import CACERT, FINGERPRINT, ApiClient, run_or_fail
from sfuctl.commands.recordings import RECORDING
from sfuctl.commands.rooms import JSON, SECRET_FILE, TOKEN, URL, client
from sfuctl.common import EXIT_CODES_HELP, console, print_json
from sfuctl.server.http.models import RecordingDetail, RecordingStartResult

NAME = "record"

app = typer.Typer(
    help="Start and stop recording a room: one file per track (WebM, or Matroska for H264), on the server.",
    epilog="""[b]Examples[/b]

  sfuctl record start lobby

  sfuctl record start lobby --producer 3f2a9c1e-... --producer 77d0b1aa-...

  sfuctl record stop lobby rec-3f2a9c1e5b7d0a46

  sfuctl recordings get rec-3f2a9c1e5b7d0a46 -o ./lobby

Without --producer, every producer of the room is recorded, those that start later too.

"""
    + EXIT_CODES_HELP,
    no_args_is_help=True,
    rich_markup_mode="rich",
)


async def start(api: ApiClient, room_id: str, producers: list[str] | None) -> RecordingStartResult:
    async with api:
        return await api.start_recording(room_id, producers)


async def stop(api: ApiClient, room_id: str, recording_id: str) -> RecordingDetail:
    async with api:
        return await api.stop_recording(room_id, recording_id)


@app.command("start")
def start_command(
    room: str = typer.Argument(..., help="Room id."),
    producer: list[str] = typer.Option(  # noqa: B008
        None,
        "--producer",
        "-p",
        help="Record only this producer (repeatable; full ids, see `sfuctl rooms show ROOM --json`).",
        show_default=False,
    ),
    url: str = URL,
    token: str = TOKEN,
    secret_file: str = SECRET_FILE,
    cacert: str | None = CACERT,
    fingerprint: str | None = FINGERPRINT,
    as_json: bool = JSON,
) -> None:
    """Start recording a room; prints the recording's id (what `record stop` takes)."""
    result = run_or_fail(start(client(url, token, secret_file, cacert, fingerprint), room, producer or None))
    if as_json:
        print_json(result.model_dump())
        return
    console.print(f"recording room {room!r}: {result.id}", highlight=False)
    print(result.id)  # on stdout alone, for ID=$(sfuctl record start ROOM)


@app.command("stop")
def stop_command(
    room: str = typer.Argument(..., help="Room id."),
    recording: str = RECORDING,
    url: str = URL,
    token: str = TOKEN,
    secret_file: str = SECRET_FILE,
    cacert: str | None = CACERT,
    fingerprint: str | None = FINGERPRINT,
    as_json: bool = JSON,
) -> None:
    """Stop a recording: each file is finalised; `sfuctl recordings get ID -o DIR` downloads them."""
    detail = run_or_fail(stop(client(url, token, secret_file, cacert, fingerprint), room, recording))
    if as_json:
        print_json(detail.model_dump())
        return
    size = sum(f.bytes for f in detail.files)
    reason = f" ({detail.reason})" if detail.reason and detail.reason != "admin" else ""
    console.print(
        f"{detail.state} {detail.id}{reason}: {len(detail.files)} file(s), {size} bytes", highlight=False
    )
