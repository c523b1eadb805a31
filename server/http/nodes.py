"""The admin node API: ``GET /nodes``, the cluster's live nodes and their load.

In a cluster the nodes and their load come from Redis (each node writes its load at every
heartbeat, see ``server.cluster``); on a single node the one entry is computed here, in the same
shape, so a client needs no second code path. Redis unreachable: 503 ``unavailable``, since the
list would be this node's guess, not the cluster's.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import time
from typing import TYPE_CHECKING, Any

import psutil
from aiohttp import web
from pydantic import ValidationError
from redis.exceptions import RedisError

from sfuctl.server.cluster.settings import node_address, public_url
from sfuctl.server.http.app import json_response
from sfuctl.server.http.models import ErrorCode, NodeInfo, NodeList, NodeLoad
from sfuctl.server.http.rest import ApiError
from sfuctl.server.signaling.room import Unavailable

if TYPE_CHECKING:
    from sfuctl.server.cluster.cluster import Cluster
    from sfuctl.server.http.rest import RestApi
    from sfuctl.server.media.pool import WorkerPool
    from sfuctl.server.sfu import Sfu
    from sfuctl.server.signaling.registry import RoomRegistry

log = logging.getLogger("sfuctl.http")

NODES_TIMEOUT = 5.0
"""Bound on reading the nodes from Redis (its client has its own socket timeouts too)."""
MIN_CPU_INTERVAL = 0.5
"""Readings closer than this repeat the last figure: a few ms of CPU time is noise, not a percent."""


class ProcessCpu:
    """CPU percent of this process between two readings (the first one: since it started)."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self._at = self.process.create_time()
        self._seconds = 0.0
        self._percent = 0.0

    def percent(self) -> float:
        now = time.time()
        if now - self._at < MIN_CPU_INTERVAL:
            return self._percent
        times = self.process.cpu_times()
        seconds = times.user + times.system
        self._percent = round(max(0.0, (seconds - self._seconds) / (now - self._at) * 100), 1)
        self._at, self._seconds = now, seconds
        return self._percent


def local_load(registry: RoomRegistry, pool: WorkerPool, cpu: float) -> dict[str, Any]:
    """This node's load, counted as a cluster node counts it for its heartbeat."""
    rooms = [room for room in registry.all() if not room.closed]
    routers = [router for worker in pool.workers for router in worker.routers.values()]
    return {
        "peers": sum(len(room.peers) for room in rooms),
        "rooms": len(rooms),
        "consumers": sum(len(t.consumers) for r in routers for t in r.transports.values()),
        "cpu": cpu,
        "workers": [
            {"pid": w.pid, "routers": len(w.routers),
             "transports": sum(len(r.transports) for r in w.routers.values())}
            for w in pool.workers
        ],
    }  # fmt: skip


def node_load(data: Any, node: str) -> NodeLoad:
    """A node's load as Redis holds it, checked: another version's odd load shows as zeros."""
    try:
        return NodeLoad.model_validate(data)
    except ValidationError as error:
        log.warning("node %s: load not understood: %s", node, error.errors()[0]["msg"], extra={"node": node})
        return NodeLoad()


class NodeRoutes:
    def __init__(self, sfu: Sfu) -> None:
        self.sfu = sfu
        self.epoch = secrets.token_hex(6)
        """A single node's incarnation (a cluster node has its own, in its settings)."""
        self.cpu = ProcessCpu()

    async def list_nodes(self, _request: web.Request) -> web.Response:
        cluster = self.sfu.cluster
        nodes = [self.this_node()] if cluster is None else await self.cluster_nodes(cluster)
        listing = NodeList(cluster=cluster is not None, nodes=nodes)
        return json_response(listing.model_dump())

    def this_node(self) -> NodeInfo:
        config = self.sfu.config
        load = local_load(self.sfu.registry, self.sfu.pool, self.cpu.percent())
        return NodeInfo(
            node=config.node_id or socket.gethostname(),
            epoch=self.epoch,
            url=public_url(config),
            address=node_address(config),
            thisNode=True,
            load=NodeLoad.model_validate(load),
        )

    async def cluster_nodes(self, cluster: Cluster) -> list[NodeInfo]:
        try:
            found = await asyncio.wait_for(cluster.nodes(), NODES_TIMEOUT)
        except Unavailable as error:
            raise ApiError(503, ErrorCode.UNAVAILABLE, f"{error}; try again shortly") from None
        except (RedisError, OSError, TimeoutError) as error:
            reason = "timed out" if isinstance(error, TimeoutError) else str(error) or type(error).__name__
            message = f"the cluster's Redis did not answer ({reason}); try again shortly"
            raise ApiError(503, ErrorCode.UNAVAILABLE, message) from None
        me = cluster.settings
        nodes = [
            NodeInfo(
                node=str(entry["node"]),
                epoch=entry.get("epoch"),
                url=entry.get("url"),
                address=entry.get("address"),
                thisNode=entry["node"] == me.node_id and entry.get("epoch") == me.epoch,
                load=node_load(entry.get("load"), str(entry["node"])),
            )
            for entry in found
        ]
        return sorted(nodes, key=lambda node: node.node)


def setup_routes(app: web.Application, api: RestApi) -> None:
    routes = NodeRoutes(api.sfu)
    app.router.add_get("/nodes", api.require_admin(routes.list_nodes), allow_head=False)
