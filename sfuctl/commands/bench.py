"""`sfuctl bench`: load a live server (signaling, media fan-out, join latency) and summarise."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sfuctl.api import CACERT, DEFAULT_URL, FINGERPRINT, tls_trust
from sfuctl.bench.common import Target
from sfuctl.common import CliError, ExitCode, console, fail, print_json
from sfuctl.server.auth import AuthError, SecretError, resolve_secret

NAME = "bench"

app = typer.Typer(
    help="Load a running server and report what it carries (requests/s, latency, loss, CPU).",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

URL = typer.Option(DEFAULT_URL, "--url", envvar="SFUCTL_URL", help="The server to load.")
SECRET = typer.Option(
    None, "--secret", envvar="SFUCTL_SECRET", show_default=False,
    help="JWT secret to mint tokens (default: the server's secret file).",
)  # fmt: skip
JSON = typer.Option(False, "--json", help="Print the result as JSON on stdout.")


def target(url: str, secret: str | None, cacert: str | None = None, fingerprint: str | None = None) -> Target:
    try:
        return Target(url, resolve_secret(secret).value, tls_trust(cacert, fingerprint))
    except CliError as error:
        fail(error)
    except SecretError as error:
        fail(CliError(str(error), error.hint, ExitCode.USAGE))
    except AuthError as error:
        fail(
            CliError(str(error), "pass --secret or set SFUCTL_SECRET to the server's secret", ExitCode.USAGE)
        )


def run(
    work: Callable[[Callable[[str, int, int], None]], Coroutine[Any, Any, dict[str, Any]]],
    as_json: bool,
    uvloop: bool = False,
) -> dict[str, Any]:
    """Run one mode under a progress display (on stderr); with ``uvloop``, on it when installed
    (the load tool shares the host's cores with the server: a cheaper loop is CPU for the server)."""
    if uvloop:
        from sfuctl.server.serve import install_event_loop_policy

        install_event_loop_policy()
    columns = (TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=as_json) as bar:
        tasks: dict[str, Any] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done)

        try:
            result: dict[str, Any] = asyncio.run(work(progress))
        except TimeoutError:
            fail(CliError("the server stopped answering in time", "see its log; is it overloaded?",
                          ExitCode.UNREACHABLE))  # fmt: skip
        except (OSError, ConnectionError) as error:
            fail(CliError(f"cannot load the server: {error}", "is `sfuctl serve` running at --url?",
                          ExitCode.UNREACHABLE))  # fmt: skip
    if as_json:
        print_json(result)
    return result


def table(title: str, rows: list[tuple[str, str]]) -> None:
    out = Table(title=title, show_header=False, title_justify="left")
    out.add_column(style="bold")
    out.add_column(justify="right")
    for name, value in rows:
        out.add_row(name, value)
    console.print(out)


def server_rows(server: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        ("controller CPU", f"{server['controllerCpuPercent']} % of a core"),
        ("workers CPU", f"{server['workersCpuPercent']} % of a core ({server['workers']} workers)"),
        *(
            [
                (
                    "  each (pid: %)",
                    ", ".join(f"{pid}: {pct}" for pid, pct in server["workerCpuPercentEach"].items()),
                )
            ]
            if len(server.get("workerCpuPercentEach") or {}) > 1
            else []
        ),
        ("controller RSS", f"{server['controllerRssMiB']} MiB"),
        ("workers RSS", f"{server['workersRssMiB']} MiB"),
    ]


@app.command()
def signaling(
    peers: int = typer.Option(500, "--peers", help="Peers to run."),
    room_size: int = typer.Option(
        10, "--room-size", help="Peers per room (the server's max_peers_per_room applies)."
    ),
    consume_cap: int = typer.Option(9, "--consume-cap", help="Consumers per peer at most."),
    concurrency: int = typer.Option(100, "--concurrency", help="Requests in flight at once."),
    hold: float = typer.Option(2.0, "--hold", help="Seconds at full load before leaving."),
    url: str = URL,
    cacert: str | None = CACERT,
    fingerprint: str | None = FINGERPRINT,
    secret: str | None = SECRET,
    as_json: bool = JSON,
) -> None:
    """Many lightweight peers: join, send+recv transports, produce, consume each other, leave.

    [b]Example[/b]: sfuctl bench signaling --peers 500 --room-size 10
    """
    from sfuctl.bench.signaling import SignalingOptions, run_signaling

    options = SignalingOptions(peers, room_size, consume_cap, concurrency, hold)
    result = run(
        lambda progress: run_signaling(target(url, secret, cacert, fingerprint), options, progress),
        as_json,
        uvloop=True,
    )
    if as_json:
        return
    table(f"signaling: {result['peersJoined']} peers, {result['producers']} producers", [
        ("requests", str(result["requests"])),
        ("requests/s", str(result["requestsPerSecond"])),
        ("errors", ", ".join(f"{k} x{v}" for k, v in result["errors"].items()) or "none"),
        *server_rows(result["server"]),
        ("bench tool CPU", f"{result['toolCpuPercent']} % of a core "
                           f"({result['toolCpuMicrosecondsPerRequest']} µs per request)"),
    ])  # fmt: skip
    latency = Table(title="latency (ms)", title_justify="left")
    for column in ("request", "count", "p50", "p95", "p99", "max"):
        latency.add_column(column, justify="left" if column == "request" else "right")
    for name, s in result["latencyMs"].items():
        latency.add_row(name, *(str(s[k]) for k in ("count", "p50", "p95", "p99", "max")))
    console.print(latency)


@app.command()
def fanout(
    receivers: int = typer.Option(500, "--receivers", "-k", help="Consumers of the one producer."),
    duration: float = typer.Option(10.0, "--duration", help="Seconds of sending."),
    pps: int = typer.Option(50, "--pps", help="RTP packets per second (50: one Opus stream)."),
    size: int = typer.Option(160, "--size", help="RTP payload bytes."),
    consumers_per_transport: int = typer.Option(
        1, "--consumers-per-transport", help="Consumers sharing a socket."
    ),
    transports_per_peer: int = typer.Option(4, "--transports-per-peer", help="Receive transports per peer."),
    url: str = URL,
    cacert: str | None = CACERT,
    fingerprint: str | None = FINGERPRINT,
    secret: str | None = SECRET,
    as_json: bool = JSON,
) -> None:
    """One publisher (real ICE/DTLS/SRTP, synthetic RTP), K cheap receivers: loss, jitter, CPU.

    Loss is counted after the receivers have drained; packets more than 1 s behind the
    publisher's schedule are reported as late (the SFU or the host fell behind), not as lost.

    All receivers are in one room: raise the server's max_peers_per_room above
    K / (consumers-per-transport x transports-per-peer) + 1. A room larger than one worker
    spreads over several when the server runs with `--workers 2 --limit consumers_per_router=N`:
    the report shows each worker's CPU and the room's routers.

    [b]Example[/b]: sfuctl bench fanout --receivers 500 --duration 10
    """
    try:
        from sfuctl.bench.fanout import FanoutOptions, run_fanout
    except ImportError as error:  # its endpoints use aiortc's ICE/DTLS/SRTP pieces (dev extra)
        fail(CliError(f"fanout needs aiortc: {error}", "pip install aiortc", ExitCode.USAGE))

    options = FanoutOptions(receivers, consumers_per_transport, transports_per_peer, duration, pps, size)
    result = run(
        lambda progress: run_fanout(target(url, secret, cacert, fingerprint), options, progress), as_json
    )
    if as_json:
        return
    tool = result["tool"]
    delay = result["delayMs"]
    table(f"fan-out: 1 → {result['consumers']} consumers, {pps} pps x {size} B", [
        ("packets sent", str(result["packetsSent"])),
        ("received / expected", f"{result['packetsReceived']} / {result['packetsExpected']}"),
        ("loss", f"{result['lossPercent']} % (worst consumer {result['worstLossPercent']} %)"),
        ("late (after end + 1 s)", f"{result['latePackets']} packets, {result['latePercent']} %"),
        ("delay mean p50 / p95 / max", f"{delay['meanP50']} / {delay['meanP95']} / {delay['max']} ms"),
        ("jitter p50 / p95", f"{result['jitterMs']['p50']} / {result['jitterMs']['p95']} ms"),
        ("forwarded", f"{result['forwardedPacketsPerSecond']} packets/s"),
        *server_rows(result["server"]),
        *(
            [("room routers (pid: consumers)", ", ".join(
                f"{r['workerPid']}: {r['consumers']}" for r in result["roomRouters"]))]
            if result.get("roomRouters")
            else []
        ),
        ("worker CPU per consumer", f"{result['workerCpuPercentPerConsumer']} % of a core"),
        ("bench tool CPU", f"{tool['cpuPercent']} % of a core"),
        ("tool loop lag p99 / max", f"{tool['loopLagMs']['p99']} / {tool['loopLagMs']['max']} ms"),
        ("publisher late at worst", f"{tool['publisherLateMs']} ms"),
        ("drops on the tool's sockets", str(tool["socketDrops"])),
        ("UDP buffer drops (host)", str(tool["udpReceiveBufferDrops"])),
    ])  # fmt: skip
    if tool["socketDrops"] or tool["sendErrors"] or tool["cpuPercent"] > 85 or tool["publisherLateMs"] > 100:
        console.print(
            "[yellow]warning:[/] the bench tool was near its limit; loss may be the tool's, not the SFU's"
        )
    if result["latePackets"]:
        console.print(
            "[yellow]warning:[/] packets arrived more than 1 s late: the chain fell behind real time "
            "(SFU worker short of CPU, or another load on this host); see the workers' CPU"
        )


@app.command()
def join(
    joins: int = typer.Option(20, "--joins", help="Joins to time, one after the other."),
    room: str = typer.Option("bench-join", "--room", help="Room to use."),
    viewers: int = typer.Option(
        0,
        "--viewers",
        help="Cheap viewers in the room first: each trial is viewer N+1 (N+1th in a big room).",
    ),
    url: str = URL,
    cacert: str | None = CACERT,
    fingerprint: str | None = FINGERPRINT,
    secret: str | None = SECRET,
    as_json: bool = JSON,
) -> None:
    """Time from WebSocket open to the first decoded video frame (pymediasoup), p50/p95.

    With --viewers N the room is filled first, so the trials are its (N+1)th viewers; against a
    server that spreads rooms over workers they land where a new viewer of a big room would.

    [b]Example[/b]: sfuctl bench join --joins 20; sfuctl bench join --joins 10 --viewers 499
    """
    try:
        from sfuctl.bench.join import run_join
    except ImportError as error:
        fail(
            CliError(
                f"join needs the media client: {error}", "pip install pymediasoup aiortc", ExitCode.USAGE
            )
        )
    result = run(
        lambda progress: run_join(target(url, secret, cacert, fingerprint), joins, room, progress, viewers),
        as_json,
    )
    if as_json:
        return
    s = result["firstFrameMs"]
    table(f"join → first decoded frame ({result['client']})", [
        ("joins timed", str(s["count"]) + (f" (after {viewers} viewers)" if viewers else "")),
        *(
            [("room routers (pid: consumers)", ", ".join(
                f"{r['workerPid']}: {r['consumers']}" for r in result["roomRouters"]))]
            if len(result.get("roomRouters") or []) > 1
            else []
        ),
        ("p50 / p95", f"{s['p50']} / {s['p95']} ms"),
        ("max", f"{s['max']} ms"),
        ("failures", ", ".join(f"{k} x{v}" for k, v in result["failures"].items()) or "none"),
    ])  # fmt: skip


@app.command()
def cluster(
    single: str = typer.Option(..., "--single", help="A node without --redis (the peer measured against)."),
    node: list[str] = typer.Option(  # noqa: B008
        ..., "--node", help="A node of the cluster, repeatable (two or more)."
    ),
    peers: int = typer.Option(60, "--peers", help="Peers of the signaling load (each run)."),
    room_size: int = typer.Option(6, "--room-size", help="Peers per room."),
    joins: int = typer.Option(3, "--joins", help="First-frame trials per placement (same node, cross node)."),
    rounds: int = typer.Option(3, "--rounds", min=1, max=20, help="Runs of each load, alternated (medians)."),
    secret: str | None = SECRET,
    as_json: bool = JSON,
) -> None:
    """The cluster's cost against one node, in one run: controller CPU per request (one node;
    the cluster with rooms whole on a node; rooms spanning nodes), Redis round trips per join,
    join → first frame on the publisher's node and on another one.

    [b]Example[/b]: sfuctl bench cluster --single http://127.0.0.1:3001 --node http://127.0.0.1:3002 --node http://127.0.0.1:3003
    """
    if len(node) < 2:
        fail(CliError("give two or more --node", "e.g. --node http://10.0.0.11:3001 --node http://10.0.0.12:3001",
                      ExitCode.USAGE))  # fmt: skip
    try:
        from sfuctl.bench.cluster import run_cluster
        from sfuctl.bench.signaling import SignalingOptions
    except ImportError as error:
        fail(CliError(f"cluster needs the media client: {error}", "pip install pymediasoup aiortc",
                      ExitCode.USAGE))  # fmt: skip
    options = SignalingOptions(peers, room_size, consume_cap=room_size - 1, concurrency=50, hold=0.5)
    result = run(
        lambda progress: run_cluster(
            target(single, secret), [target(url, secret) for url in node], options, joins, progress, rounds
        ),
        as_json,
    )
    if as_json:
        return
    first = result["firstFrame"]
    table(f"cluster of {len(node)} nodes against one node ({peers} peers, rooms of {room_size})", [
        ("CPU/request, one node", f"{result['singleNode']['controllerCpuMsPerRequest']} ms"),
        ("CPU/request, rooms whole", f"{result['clusterWholeRooms']['controllerCpuMsPerRequest']} ms"),
        ("ratio, rooms whole", f"{result['wholeRoomsRatio']} (goal <= 1.2)"),
        ("CPU/request, spanning", f"{result['cluster']['controllerCpuMsPerRequest']} ms"),
        ("ratio, rooms spanning", str(result["cpuPerRequestRatio"])),
        ("Redis round trips/join", str(result["redis"]["roundTripsPerJoin"])),
        ("first frame, same node", f"p50 {first['sameNodeMs']['p50']} ms"),
        ("first frame, cross node", f"p50 {first['crossNodeMs']['p50']} ms"),
        ("errors", ", ".join(f"{k} x{v}" for k, v in
                             {**result["singleNode"]["errors"], **result["clusterWholeRooms"]["errors"],
                              **result["cluster"]["errors"], **first["failures"]}.items()) or "none"),
    ])  # fmt: skip
