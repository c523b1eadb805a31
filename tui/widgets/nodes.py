"""The nodes table of a cluster (GET /nodes): each live node's URL and load; ◀ marks the one watched."""

from __future__ import annotations

from textual.widgets import DataTable

from sfuctl.server.http.models import NodeInfo, NodeWorker

COLUMNS = (("node", "node"), ("url", "url"), ("peers", "peers"), ("rooms", "rooms"),
           ("consumers", "consumers"), ("CPU %", "cpu"), ("workers", "workers"), ("", "this"))  # fmt: skip


def workers_cell(workers: list[NodeWorker]) -> str:
    """How many workers, and their transports: `2 (5+3 transports)`."""
    if not workers:
        return "0"
    return f"{len(workers)} ({'+'.join(str(w.transports) for w in workers)} transports)"


def node_row(node: NodeInfo) -> tuple[str, ...]:
    load = node.load
    return (node.node, node.url or "-", str(load.peers), str(load.rooms), str(load.consumers),
            f"{load.cpu:.1f}", workers_cell(load.workers), "◀ this" if node.thisNode else "")  # fmt: skip


class NodesTable(DataTable[str]):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="none", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self.nodes_shown: list[str] = []

    def on_mount(self) -> None:
        for label, key in COLUMNS:
            self.add_column(label, key=key)

    def show(self, nodes: list[NodeInfo]) -> None:
        self.clear()
        for node in nodes:
            self.add_row(*node_row(node), key=f"{node.node}:{node.epoch}")
        self.nodes_shown = [node.node for node in nodes]
