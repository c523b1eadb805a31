"""The nodes panel of `sfuctl top` fed by a fixed source: shown only in a cluster, and a failed
/nodes keeps the last list under a title that says why (the live cluster: tests/cluster)."""

from __future__ import annotations

from textual.widgets import Label

from sfuctl.server.http.models import ClusterHealth, Health, NodeInfo, NodeLoad, NodeWorker
from sfuctl.tui.app import Dashboard
from sfuctl.tui.data import Snapshot
from sfuctl.tui.widgets.nodes import NodesTable, workers_cell
from tests.tui.test_dashboard import SIZE, BrokenSource, text_of, until

CLUSTER = ClusterHealth(node="n1", epoch="e1", url="http://a:1", redis="up", rooms=0, nodes=2,
                        pipeTransports=0, pipedIn=0, pipedOut=0)  # fmt: skip
NODES = [
    NodeInfo(node="n1", epoch="e1", url="http://a:1", address="10.0.0.1", thisNode=True,
             load=NodeLoad(peers=3, rooms=1, consumers=6, cpu=12.5,
                           workers=[NodeWorker(pid=11, routers=1, transports=5)])),
    NodeInfo(node="n2", epoch="e2", url="http://b:1", address="10.0.0.2", thisNode=False,
             load=NodeLoad(peers=0, rooms=0, consumers=0, cpu=0.0, workers=[])),
]  # fmt: skip


def health(cluster: ClusterHealth | None) -> Health:
    return Health(status="ok", version="9", uptime=1, workers=[], rooms=0, peers=0, cluster=cluster)


class ScriptedSource(BrokenSource):
    """Answers the snapshots it is given, the last one again and again (its actions refused)."""

    def __init__(self, *snapshots: Snapshot) -> None:
        super().__init__()
        self.snapshots = list(snapshots)

    async def fetch(self) -> Snapshot:
        self.calls += 1
        return self.snapshots.pop(0) if len(self.snapshots) > 1 else self.snapshots[0]


async def test_a_cluster_shows_its_nodes_and_keeps_them_when_nodes_fail() -> None:
    failing = Snapshot(health(CLUSTER), nodes_error="the cluster's Redis is unreachable (ask [b]another[/b])")
    source = ScriptedSource(Snapshot(health(CLUSTER), nodes=NODES), failing)
    app = Dashboard(source, interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(NodesTable)
        await until(pilot, lambda: table.nodes_shown == ["n1", "n2"])
        assert app.query_one("#nodes-pane").display
        assert [str(cell) for cell in table.get_row_at(0)] == [
            "n1", "http://a:1", "3", "1", "6", "12.5", "1 (5 transports)", "◀ this",
        ]  # fmt: skip
        title = app.query_one("#nodes-title", Label)
        await until(pilot, lambda: "Redis is unreachable" in text_of(title))
        assert "[b]another[/b]" in text_of(title)  # the server's text is shown, not applied as markup
        assert table.nodes_shown == ["n1", "n2"]  # the last list stays


async def test_a_single_node_has_no_nodes_panel() -> None:
    source = ScriptedSource(Snapshot(health(None)))
    app = Dashboard(source, interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: source.calls >= 2)
        assert not app.query_one("#nodes-pane").display
        assert app.query_one(NodesTable).nodes_shown == []


def test_workers_cell() -> None:
    assert workers_cell([]) == "0"
    workers = [NodeWorker(pid=1, routers=2, transports=5), NodeWorker(pid=2, routers=1, transports=3)]
    assert workers_cell(workers) == "2 (5+3 transports)"
