"""`sfuctl bench cluster` against real nodes: a plain server and two nodes of a real cluster."""

from __future__ import annotations

import json

from tests.cli.test_cli_server import sfuctl
from tests.cluster.conftest import Node
from tests.conftest import RunningServer


async def test_bench_cluster_alternates_the_three_loads_and_compares_their_medians(
    cluster: list[Node], server: RunningServer
) -> None:
    n1, n2, _ = cluster
    result = await sfuctl(
        "bench", "cluster", "--single", server.url, "--node", n1.url, "--node", n2.url,
        "--peers", "12", "--room-size", "6", "--rounds", "2", "--joins", "1", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for name, nodes in (("singleNode", 1), ("clusterWholeRooms", 2), ("cluster", 2)):
        load = report[name]
        assert load["nodes"] == nodes and load["errors"] == {}, (name, load)
        assert load["requests"] == 12 * (1 + 2 + 1 + 5 * 2 + 1), (name, load)  # join, 2 transports, ...
        assert len(load["runs"]) == 2 and all(value > 0 for value in load["runs"]), (name, load)
        assert min(load["runs"]) <= load["controllerCpuMsPerRequest"] <= max(load["runs"]), (name, load)
    single = report["singleNode"]["controllerCpuMsPerRequest"]
    spanning, whole = (report[name]["controllerCpuMsPerRequest"] for name in ("cluster", "clusterWholeRooms"))
    assert report["cpuPerRequestRatio"] == round(spanning / single, 2)
    assert report["wholeRoomsRatio"] == round(whole / single, 2)
    first = report["firstFrame"]
    assert first["failures"] == {} and first["crossNodeMs"]["count"] == first["sameNodeMs"]["count"] == 1
