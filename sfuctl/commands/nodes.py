"""`sfuctl nodes`: the cluster's live nodes and their load, through the admin REST API."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from sfuctl.api import CACERT, FINGERPRINT, ApiClient, run_or_fail
from sfuctl.commands.rooms import JSON, SECRET_FILE, TOKEN, URL, client
from sfuctl.common import print_json
from sfuctl.server.http.models import NodeList, NodeWorker

NAME = "nodes"

EPILOG = """[b]Examples[/b]

  sfuctl nodes

  sfuctl nodes --url http://sfu-2.internal:3001 --json | jq '.nodes[].load.peers'

Any node of a cluster answers for all of them; each node's load is as of its last heartbeat. A
server without --redis lists itself. An admin token is minted from the local secret (as `sfuctl
serve` finds it) unless --token is given.
"""

THIS = "◀"
"""Marks the node that answered."""


async def fetch_nodes(api: ApiClient) -> NodeList:
    async with api:
        return await api.nodes()


def workers_text(workers: list[NodeWorker]) -> str:
    """One line per worker: `pid routers/transports`."""
    return "\n".join(f"{w.pid} {w.routers}/{w.transports}" for w in workers) or "-"


def nodes_table(listing: NodeList) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("node")
    table.add_column("url")
    for column in ("peers", "rooms", "consumers", "CPU %"):
        table.add_column(column, justify="right")
    table.add_column("workers (pid routers/transports)")
    table.add_column("")
    for node in listing.nodes:
        load = node.load
        counts = (str(load.peers), str(load.rooms), str(load.consumers), f"{load.cpu:.1f}")
        marker = f"{THIS} this" if node.thisNode else ""
        table.add_row(node.node, node.url or "-", *counts, workers_text(load.workers), marker)
    return table


def nodes(
    url: str = URL,
    token: str = TOKEN,
    secret_file: str = SECRET_FILE,
    cacert: str | None = CACERT,
    fingerprint: str | None = FINGERPRINT,
    as_json: bool = JSON,
) -> None:
    """List the cluster's live nodes: URL, peers, rooms, consumers, CPU, workers."""
    listing = run_or_fail(fetch_nodes(client(url, token, secret_file, cacert, fingerprint)))
    if as_json:
        print_json(listing.model_dump())
        return
    out = Console(emoji=False)
    out.print(nodes_table(listing))
    if not listing.cluster:
        out.print("[dim]a single node (not in a cluster: no --redis)[/]", highlight=False)


command = nodes
