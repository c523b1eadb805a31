"""`sfuctl rooms`: list, inspect and close rooms through the admin REST API."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.console import Console
from rich.table import Table

from sfuctl.api import CACERT, DEFAULT_URL, FINGERPRINT, ApiClient, admin_token_source, run_or_fail, tls_trust
from sfuctl.common import CliError, ExitCode, console, fail, human_bitrate, print_json
from sfuctl.server.http.models import RoomDetail, RoomList

NAME = "rooms"

app = typer.Typer(
    help="List, inspect and close rooms (admin REST API).",
    epilog="""[b]Examples[/b]

  sfuctl rooms

  sfuctl rooms show lobby

  sfuctl rooms close lobby --yes

  sfuctl rooms --url http://sfu.internal:3001 --token "$ADMIN_JWT" --json

An admin token is minted from the local secret (as `sfuctl serve` finds it) unless --token is given.""",
    invoke_without_command=True,
    rich_markup_mode="rich",
)

URL = typer.Option(DEFAULT_URL, envvar="SFUCTL_URL", help="Server to ask.")
TOKEN = typer.Option(
    None,
    envvar="SFUCTL_TOKEN",
    help="Admin JWT.  \\[default: minted from the local secret]",
    show_default=False,
)
SECRET_FILE = typer.Option(
    None, envvar="SFUCTL_SECRET_FILE", help="File holding the server's secret.", show_default=False
)
JSON = typer.Option(False, "--json", help="Print the API's data as JSON.")


def client(
    url: str, token: str | None, secret_file: str | None, cacert: str | None, fingerprint: str | None
) -> ApiClient:
    try:
        trust = tls_trust(cacert, fingerprint)
    except CliError as error:
        fail(error)
    return ApiClient(url, admin_token_source(token, secret_file), trust=trust)


async def fetch_rooms(api: ApiClient) -> RoomList:
    async with api:
        return await api.rooms()


async def fetch_room(api: ApiClient, room_id: str) -> RoomDetail:
    async with api:
        return await api.room(room_id)


async def close(api: ApiClient, room_id: str) -> None:
    async with api:
        await api.close_room(room_id)


def since(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def list_rooms(
    url: str,
    token: str | None,
    secret_file: str | None,
    as_json: bool,
    cacert: str | None,
    fingerprint: str | None,
) -> None:
    rooms = run_or_fail(fetch_rooms(client(url, token, secret_file, cacert, fingerprint)))
    if as_json:
        print_json(rooms.model_dump())
        return
    if not rooms.rooms:
        console.print("no rooms")
        return
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("room")
    for column in ("peers", "producers", "consumers", "worker pid"):
        table.add_column(column, justify="right")
    table.add_column("created")
    for room in rooms.rooms:
        table.add_row(room.roomId, str(room.peers), str(room.producers), str(room.consumers),
                      str(room.workerPid), since(room.createdAt))  # fmt: skip
    Console().print(table)


@app.callback()
def rooms(
    ctx: typer.Context,
    url: str = URL,
    token: str = TOKEN,
    secret_file: str = SECRET_FILE,
    cacert: str | None = CACERT,
    fingerprint: str | None = FINGERPRINT,
    as_json: bool = JSON,
) -> None:
    """List the rooms: peers, producers, consumers, worker (subcommands: list, show, close)."""
    if ctx.invoked_subcommand is None:
        list_rooms(url, token, secret_file, as_json, cacert, fingerprint)


@app.command("list")
def list_command(
    url: str = URL,
    token: str = TOKEN,
    secret_file: str = SECRET_FILE,
    as_json: bool = JSON,
    cacert: str | None = CACERT,
    fingerprint: str | None = FINGERPRINT,
) -> None:
    """List the rooms (same as plain `sfuctl rooms`)."""
    list_rooms(url, token, secret_file, as_json, cacert, fingerprint)


@app.command()
def show(
    room: str = typer.Argument(..., help="Room id."),
    url: str = URL,
    token: str = TOKEN,
    secret_file: str = SECRET_FILE,
    cacert: str | None = CACERT,
    fingerprint: str | None = FINGERPRINT,
    as_json: bool = JSON,
) -> None:
    """Show one room: its peers with their producers, consumers, scores and bitrates."""
    detail = run_or_fail(fetch_room(client(url, token, secret_file, cacert, fingerprint), room))
    if as_json:
        print_json(detail.model_dump())
        return
    out = Console()
    out.print(
        f"[b]{detail.roomId}[/]  worker {detail.workerPid}  since {since(detail.createdAt)}  "
        f"peers {len(detail.peers)}  in {human_bitrate(detail.bitrateIn)}  "
        f"out {human_bitrate(detail.bitrateOut)}",
        highlight=False,
        soft_wrap=True,
    )
    table = Table(show_edge=False, pad_edge=False)
    for column in ("peer", "name", "producers", "consumers", "in", "out", "ICE / DTLS"):
        table.add_column(column)
    for peer in detail.peers:
        producers = "\n".join(
            f"{p.kind} {p.id[:8]}{' paused' if p.paused else ''} score "
            + (",".join(str(s.score) for s in p.score) or "-")
            for p in peer.producers
        )
        consumers = "\n".join(
            f"{c.kind} {c.id[:8]}{' paused' if c.paused else ''} score {c.score.score}"
            for c in peer.consumers
        )
        states = "\n".join(f"{t.iceState} / {t.dtlsState}" for t in peer.transports)
        bitrates = (human_bitrate(peer.bitrateIn), human_bitrate(peer.bitrateOut))
        table.add_row(
            peer.userId, peer.userName, producers or "-", consumers or "-", *bitrates, states or "-"
        )
    out.print(table)


@app.command("close")
def close_command(
    room: str = typer.Argument(..., help="Room id."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    url: str = URL,
    token: str = TOKEN,
    secret_file: str = SECRET_FILE,
    cacert: str | None = CACERT,
    fingerprint: str | None = FINGERPRINT,
) -> None:
    """Close a room for everyone in it (each peer gets `room-closed`)."""
    if not yes and not typer.confirm(f"Close room {room!r} and disconnect everyone in it?", err=True):
        console.print("aborted")
        raise typer.Exit(int(ExitCode.FAILED))
    run_or_fail(close(client(url, token, secret_file, cacert, fingerprint), room))
    console.print(f"closed room {room!r}", highlight=False)
