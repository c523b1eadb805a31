"""`sfuctl rooms`: list, inspect and close rooms through the admin REST API."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.console import Console
from rich.table import Table

from sfuctl.api import CACERT, DEFAULT_URL, FINGERPRINT, ApiClient, admin_token_source, run_or_fail, tls_trust
from sfuctl.common import EXIT_CODES_HELP, CliError, ExitCode, console, fail, human_bitrate, print_json
from sfuctl.server.http.models import ProducerModeration, RoomDetail, RoomList, RoomNode

NAME = "rooms"

app = typer.Typer(
    help="List, inspect and close rooms (admin REST API).",
    epilog="""[b]Examples[/b]

  sfuctl rooms

  sfuctl rooms show lobby

  sfuctl rooms close lobby --yes

  sfuctl rooms kick lobby bob

  sfuctl rooms mute lobby 3f2a9c1e

  sfuctl rooms unmute lobby 3f2a9c1e

  sfuctl rooms close-producer lobby 3f2a9c1e

  sfuctl rooms --url http://sfu.internal:3001 --token "$ADMIN_JWT" --json

An admin token is minted from the local secret (as `sfuctl serve` finds it) unless --token is given.

"""
    + EXIT_CODES_HELP,
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
        print_json(rooms.model_dump(exclude_none=True))
        return
    if not rooms.rooms and not rooms.elsewhere:
        console.print("no rooms")
        return
    clustered = rooms.elsewhere is not None
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("room")
    for column in ("peers", "producers", "consumers", "worker pid", "routers"):
        table.add_column(column, justify="right")
    table.add_column("created")
    if clustered:
        table.add_column("nodes (peers)")
    for room in rooms.rooms:
        row = [room.roomId, str(room.peers), str(room.producers), str(room.consumers),
               str(room.workerPid), str(room.routers), since(room.createdAt)]  # fmt: skip
        if clustered:
            row.append(node_list(room.nodes or []))
        table.add_row(*row)
    out = Console(emoji=False)
    if rooms.rooms:
        out.print(table)
    if rooms.elsewhere:
        others = Table(show_edge=False, pad_edge=False, title="on other nodes", title_justify="left")
        others.add_column("room")
        others.add_column("peers", justify="right")
        others.add_column("nodes (peers)")
        for other in rooms.elsewhere:
            others.add_row(other.roomId, str(other.peers), node_list(other.nodes))
        out.print(others)


def node_list(nodes: list[RoomNode]) -> str:
    return ", ".join(f"{node.node} ({node.peers})" for node in nodes)


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
    """List the rooms: peers, producers, consumers, worker (subcommands: list, show, close, kick,
    mute, unmute, close-producer)."""
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
    """Show one room: its peers with their producers, consumers, scores and bitrates, and the
    workers it is spread over."""
    detail = run_or_fail(fetch_room(client(url, token, secret_file, cacert, fingerprint), room))
    if as_json:
        print_json(detail.model_dump())
        return
    out = Console(emoji=False)
    out.print(
        f"[b]{detail.roomId}[/]  worker {detail.workerPid}  since {since(detail.createdAt)}  "
        f"peers {len(detail.peers)}  in {human_bitrate(detail.bitrateIn)}  "
        f"out {human_bitrate(detail.bitrateOut)}",
        highlight=False,
        soft_wrap=True,
    )
    if len(detail.routers) > 1:  # a room spread over workers: where its routers are
        spread = Table(show_edge=False, pad_edge=False, title="routers", title_justify="left")
        for column in ("router", "worker pid", "peers", "consumers", "pipes"):
            spread.add_column(column, justify="left" if column == "router" else "right")
        for router in detail.routers:
            name = router.routerId[:8] + (" (main)" if router.main else "")
            spread.add_row(name, str(router.workerPid), str(router.peers), str(router.consumers),
                           str(router.pipeTransports))  # fmt: skip
        out.print(spread)
    spread_over = len({router.workerPid for router in detail.routers}) > 1
    table = Table(show_edge=False, pad_edge=False)
    columns = ("peer", "name", *(("worker",) if spread_over else ()), "producers", "consumers", "in", "out")
    for column in (*columns, "ICE / DTLS"):
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
        worker = (str(peer.workerPid or "-"),) if spread_over else ()
        table.add_row(
            peer.userId, peer.userName, *worker, producers or "-", consumers or "-", *bitrates, states or "-"
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


# -- moderation --------------------------------------------------------------------------------


def pick_producer(detail: RoomDetail, wanted: str) -> str:
    """The full id of the room's one producer whose id is ``wanted`` or starts with it."""
    ids = [p.id for peer in detail.peers for p in peer.producers]
    if wanted in ids:
        return wanted
    matches = [i for i in ids if i.startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise CliError(
            f"no producer {wanted!r} in room {detail.roomId!r}",
            f"`sfuctl rooms show {detail.roomId}` lists its producers",
            ExitCode.NOT_FOUND,
        )
    raise CliError(
        f"{wanted!r} is the start of {len(matches)} producer ids in room {detail.roomId!r}",
        "give more of the id (`sfuctl rooms show ROOM --json` has them whole)",
        ExitCode.USAGE,
    )


async def kick(api: ApiClient, room_id: str, user_id: str) -> None:
    async with api:
        await api.kick(room_id, user_id)


async def mute(api: ApiClient, room_id: str, producer: str, muted: bool) -> ProducerModeration:
    async with api:
        producer_id = pick_producer(await api.room(room_id), producer)
        return await api.mute(room_id, producer_id, muted)


async def close_producer(api: ApiClient, room_id: str, producer: str) -> str:
    async with api:
        producer_id = pick_producer(await api.room(room_id), producer)
        await api.close_producer(room_id, producer_id)
        return producer_id


ROOM = typer.Argument(..., help="Room id.")
PRODUCER = typer.Argument(..., help="Producer id, or its start as `sfuctl rooms show` prints it.")


@app.command("kick")
def kick_command(
    room: str = ROOM,
    user: str = typer.Argument(..., help="User id of the peer (see `sfuctl rooms show ROOM`)."),
    url: str = URL,
    token: str = TOKEN,
    secret_file: str = SECRET_FILE,
    cacert: str | None = CACERT,
    fingerprint: str | None = FINGERPRINT,
) -> None:
    """Disconnect a peer: it gets `room-closed {reason: kicked}`, the others `peer-left`."""
    run_or_fail(kick(client(url, token, secret_file, cacert, fingerprint), room, user))
    console.print(f"kicked {user!r} from room {room!r}", highlight=False)


def print_moderation(result: ProducerModeration, as_json: bool) -> None:
    if as_json:
        print_json(result.model_dump())
        return
    state = "muted" if result.muted else "unmuted"
    console.print(f"{state} producer {result.producerId} of {result.userId!r}", highlight=False)


@app.command("mute")
def mute_command(
    room: str = ROOM,
    producer: str = PRODUCER,
    url: str = URL,
    token: str = TOKEN,
    secret_file: str = SECRET_FILE,
    cacert: str | None = CACERT,
    fingerprint: str | None = FINGERPRINT,
    as_json: bool = JSON,
) -> None:
    """Pause a producer for every consumer; its owner cannot resume it until `unmute`."""
    print_moderation(
        run_or_fail(mute(client(url, token, secret_file, cacert, fingerprint), room, producer, True)), as_json
    )


@app.command("unmute")
def unmute_command(
    room: str = ROOM,
    producer: str = PRODUCER,
    url: str = URL,
    token: str = TOKEN,
    secret_file: str = SECRET_FILE,
    cacert: str | None = CACERT,
    fingerprint: str | None = FINGERPRINT,
    as_json: bool = JSON,
) -> None:
    """Resume a muted producer and give its owner control back."""
    print_moderation(
        run_or_fail(mute(client(url, token, secret_file, cacert, fingerprint), room, producer, False)),
        as_json,
    )


@app.command("close-producer")
def close_producer_command(
    room: str = ROOM,
    producer: str = PRODUCER,
    url: str = URL,
    token: str = TOKEN,
    secret_file: str = SECRET_FILE,
    cacert: str | None = CACERT,
    fingerprint: str | None = FINGERPRINT,
) -> None:
    """Close a producer: its consumers and its owner get told."""
    producer_id = run_or_fail(
        close_producer(client(url, token, secret_file, cacert, fingerprint), room, producer)
    )
    console.print(f"closed producer {producer_id} in room {room!r}", highlight=False)
