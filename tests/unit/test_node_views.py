"""The pure parts of the nodes view: a node's load read from Redis, the CPU meter, the CLI cells."""

from __future__ import annotations

import logging

import pytest

from sfuctl.commands.nodes import nodes_table, workers_text
from sfuctl.server.http.models import NodeInfo, NodeList, NodeLoad, NodeWorker
from sfuctl.server.http.nodes import ProcessCpu, node_load


def test_a_load_as_a_node_writes_it() -> None:
    load = node_load({"peers": 4, "rooms": 2, "consumers": 9, "cpu": 7.5,
                      "workers": [{"pid": 42, "routers": 2, "transports": 8}]}, "n1")  # fmt: skip
    assert (load.peers, load.rooms, load.consumers, load.cpu) == (4, 2, 9, 7.5)
    assert load.workers == [NodeWorker(pid=42, routers=2, transports=8)]


@pytest.mark.parametrize("odd", [None, "text", {"peers": "many"}, {"workers": [{"routers": 1}]}])
def test_a_load_not_understood_shows_as_zeros_and_is_logged(
    odd: object, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="sfuctl.http"):
        assert node_load(odd, "n9") == NodeLoad()
    assert "node n9: load not understood" in caplog.text


def test_a_load_with_fewer_fields_keeps_what_it_has() -> None:
    assert node_load({"peers": 3}, "old") == NodeLoad(peers=3)


def test_cpu_meter_is_a_percent_and_does_not_jump_on_close_readings() -> None:
    meter = ProcessCpu()
    first = meter.percent()  # since the process started
    assert first >= 0.0
    assert meter.percent() == first  # read again at once: the same figure, not noise


def test_cli_workers_cell_and_this_marker() -> None:
    assert workers_text([]) == "-"
    assert workers_text([NodeWorker(pid=7, routers=1, transports=2)]) == "7 1/2"
    listing = NodeList(cluster=True, nodes=[
        NodeInfo(node="n1", url="http://a:1", thisNode=True, load=NodeLoad(peers=1)),
        NodeInfo(node="n2", url=None, thisNode=False, load=NodeLoad()),
    ])  # fmt: skip
    table = nodes_table(listing)
    assert table.row_count == 2
    assert list(table.columns[-1].cells) == ["◀ this", ""]
    assert list(table.columns[1].cells) == ["http://a:1", "-"]
