"""GET /nodes, `sfuctl nodes` and the nodes panel of `sfuctl top`: three real `sfuctl serve --redis`
nodes on one real redis-server, real signaling clients joined to them; and a plain single node."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp

from sfuctl.client import SignalingClient
from sfuctl.server.auth import Grants, mint_token
from tests.cli.test_cli_server import sfuctl
from tests.cluster.conftest import NODE_TTL, Node
from tests.conftest import TEST_SECRET, RunningServer
from tests.redis_server import RedisServer

ROOM = "seen"


def admin_headers() -> dict[str, str]:
    return {"Authorization": "Bearer " + mint_token(TEST_SECRET, "*", "admin", grants=Grants(admin=True))[0]}


async def get_nodes(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/nodes", headers=headers) as response:
        return response.status, await response.json()


async def nodes_until(url: str, check: Any, timeout: float, what: str) -> dict[str, Any]:
    """GET /nodes until ``check(listing)`` holds (bounded); the listing that passed."""
    end = time.monotonic() + timeout
    listing: Any = None
    while time.monotonic() < end:
        status, listing = await get_nodes(url, admin_headers())
        assert status == 200, listing
        if check(listing):
            return dict(listing)
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {what}; last: {listing}")


def peers_by_node(listing: dict[str, Any]) -> dict[str, int]:
    return {node["node"]: node["load"]["peers"] for node in listing["nodes"]}


async def joined(node: Node, user: str, room: str = ROOM) -> SignalingClient:
    client = SignalingClient()
    await client.connect(node.ws_url, node.token(room, user))
    await client.join()
    return client


async def test_nodes_lists_the_cluster_with_urls_and_the_peers_joined(cluster: list[Node]) -> None:
    n1, n2, n3 = cluster
    clients = [await joined(n1, "a"), await joined(n1, "b"), await joined(n2, "c")]
    try:
        want = {"n1": 2, "n2": 1, "n3": 0}
        listing = await nodes_until(
            n3.url, lambda got: peers_by_node(got) == want, NODE_TTL * 3, f"peers {want}"
        )
        assert listing["cluster"] is True
        nodes = {node["node"]: node for node in listing["nodes"]}
        assert [node["node"] for node in listing["nodes"]] == ["n1", "n2", "n3"]
        for node in cluster:
            shown = nodes[node.name]
            health = await asyncio.to_thread(node.health)
            assert shown["url"] == node.url and shown["address"] == "127.0.0.1"
            assert shown["epoch"] == health["cluster"]["epoch"]
            assert shown["thisNode"] is (node is n3)
            assert [w["pid"] for w in shown["load"]["workers"]] == [w["pid"] for w in health["workers"]]
        assert (nodes["n1"]["load"]["rooms"], nodes["n2"]["load"]["rooms"], nodes["n3"]["load"]["rooms"]) == (
            1, 1, 0,
        )  # fmt: skip

        # the same through another node: only the node asked is "this" one
        _, from_n1 = await get_nodes(n1.url, admin_headers())
        assert [n["node"] for n in from_n1["nodes"] if n["thisNode"]] == ["n1"]

        # an admin API like /rooms: no token 401, a token without the admin grant 403
        status, body = await get_nodes(n1.url)
        assert status == 401 and body["error"]["code"] == "unauthorized"
        status, body = await get_nodes(n1.url, {"Authorization": f"Bearer {n1.token(ROOM, 'a')}"})
        assert status == 403 and body["error"]["code"] == "forbidden"

        shown = await sfuctl("nodes", "--url", n2.url, "--json")
        assert shown.exit_code == 0, shown.output
        data = json.loads(shown.stdout)
        assert {n["node"]: n["url"] for n in data["nodes"]} == {node.name: node.url for node in cluster}
        assert [n["node"] for n in data["nodes"] if n["thisNode"]] == ["n2"]
        assert peers_by_node(data) == want

        table = await sfuctl("nodes", "--url", n1.url)
        assert table.exit_code == 0, table.output
        [n1_line] = [line for line in table.stdout.splitlines() if line.lstrip().startswith("n1 ")]
        assert n1.url in n1_line and "◀ this" in n1_line, table.stdout
        assert " 2 " in n1_line  # its peers
    finally:
        for client in clients:
            await client.close()


async def test_a_killed_node_leaves_the_list_within_the_ttl(cluster: list[Node]) -> None:
    n1, n2, _ = cluster
    await nodes_until(n1.url, lambda got: "n2" in peers_by_node(got), NODE_TTL, "n2 listed")
    n2.kill()
    # its entry in the live set is scored by its last heartbeat + TTL: gone within the TTL
    listing = await nodes_until(
        n1.url, lambda got: "n2" not in peers_by_node(got), NODE_TTL * 2, "n2 gone from /nodes"
    )
    assert sorted(peers_by_node(listing)) == ["n1", "n3"]


async def test_redis_unreachable_is_503_and_one_line_in_the_cli(
    cluster: list[Node], redis_server: RedisServer
) -> None:
    n1 = cluster[0]
    redis_server.stop()
    try:
        end = time.monotonic() + 15
        while (await asyncio.to_thread(n1.health))["status"] != "degraded":
            assert time.monotonic() < end, "n1 not degraded without Redis"
            await asyncio.sleep(0.2)
        status, body = await get_nodes(n1.url, admin_headers())
        assert status == 503, body
        assert body["error"]["code"] == "unavailable"
        assert "Redis is unreachable" in body["error"]["message"]
        shown = await sfuctl("nodes", "--url", n1.url)
        assert shown.exit_code == 6, shown.output
        assert "answered 503" in shown.output and "Redis is unreachable" in shown.output
        assert "hint:" in shown.output and "cluster.redis" in shown.output
        assert "Traceback" not in shown.output
    finally:
        redis_server.start()


async def test_a_single_node_lists_itself(server: RunningServer) -> None:
    client = SignalingClient()
    await client.connect(server.ws_url, server.token("alone", "ada"))
    await client.join()
    try:
        status, listing = await get_nodes(server.url, admin_headers())
        assert status == 200, listing
        assert listing["cluster"] is False
        [node] = listing["nodes"]
        assert node["thisNode"] is True and node["url"] == server.url
        assert node["address"] == "127.0.0.1" and node["epoch"]
        assert node["load"]["peers"] == 1 and node["load"]["rooms"] == 1
        assert [w["pid"] for w in node["load"]["workers"]] == [w.pid for w in server.sfu.pool.workers]
        assert node["load"]["cpu"] >= 0.0

        shown = await sfuctl("nodes", "--url", server.url, "--json")
        assert shown.exit_code == 0, shown.output
        assert json.loads(shown.stdout)["nodes"][0]["load"]["peers"] == 1
        table = await sfuctl("nodes", "--url", server.url)
        assert table.exit_code == 0 and "a single node" in table.stdout, table.output
    finally:
        await client.close()


async def test_top_shows_the_nodes_of_the_cluster(cluster: list[Node]) -> None:
    from textual.widgets import Label

    from sfuctl.api import admin_token_source
    from sfuctl.tui.app import Dashboard
    from sfuctl.tui.data import ApiSource
    from sfuctl.tui.widgets.nodes import NodesTable
    from tests.tui.test_dashboard import SIZE, text_of, until

    n1, n2, _ = cluster
    client = await joined(n2, "zoe")
    try:
        token = mint_token(TEST_SECRET, "*", "admin", grants=Grants(admin=True))[0]
        app = Dashboard(ApiSource(n1.url, admin_token_source(token)), interval=0.2)
        async with app.run_test(size=SIZE) as pilot:
            table = app.query_one(NodesTable)
            await until(pilot, lambda: table.nodes_shown == ["n1", "n2", "n3"], timeout=NODE_TTL * 3)
            assert app.query_one("#nodes-pane").display
            rows = {str(table.get_row_at(i)[0]): table.get_row_at(i) for i in range(table.row_count)}
            assert rows["n1"][1] == n1.url and rows["n1"][-1] == "◀ this" and rows["n2"][-1] == ""
            await until(pilot, lambda: str(table.get_row_at(1)[2]) == "1", timeout=NODE_TTL * 3)  # zoe
            assert "nodes (3)" in text_of(app.query_one("#nodes-title", Label))
    finally:
        await client.close()
