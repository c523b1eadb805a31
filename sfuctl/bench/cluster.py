"""The cluster's cost, measured against one node in the same run (the machine cannot show the
throughput gain of more machines, so this reports what predicts it):

* controller CPU per signaling request, under load: the same load (``run_signaling``) on one node without
  Redis; on the cluster with each room whole on one node (room r on node r mod n: the cost of
  the cluster where rooms fit a node, as in LiveKit); and spanning the nodes (peer i on node
  i mod n, so every room spans nodes and consumers are piped between them). CPU of every node's
  controller process over each run. The three alternate for ``rounds`` rounds and the medians
  are compared: one run of each varies by a fifth on a shared 2-core machine. Each run starts
  once the previous one's rooms have closed (their closing is not the next run's cost), and the
  idle hold at full load is left out: a node collects its older garbage when idle (gc_pacing),
  so that collection costs no capacity, and whether one fell into a run's hold was chance (the
  idle collections alternate between the middle and the oldest generation);
* Redis round trips per join (the nodes' ``sfuctl_cluster_redis_round_trips_total``; heartbeats
  during the phase included, one per node per TTL/3);
* join → first decoded frame for a consumer on the publisher's node and on another node.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import replace
from typing import Any

import aiohttp

from sfuctl.bench.common import Target, latency_summary, parse_metrics, sample_server
from sfuctl.bench.join import MediaPeer, loopback_ice, moving_video_track
from sfuctl.bench.signaling import Progress, SignalingOptions, run_signaling
from sfuctl.client import SignalingClient

ROUND_TRIPS = "sfuctl_cluster_redis_round_trips_total"


async def controller_cpu(http: aiohttp.ClientSession, targets: list[Target]) -> float:
    total = 0.0
    for target in targets:
        total += (await sample_server(http, target.url)).process_cpu
    return total


async def round_trips(http: aiohttp.ClientSession, targets: list[Target]) -> float:
    total = 0.0
    for target in targets:
        async with http.get(f"{target.url.rstrip('/')}/metrics") as response:
            total += parse_metrics(await response.text()).get(ROUND_TRIPS, 0.0)
    return total


async def settled(http: aiohttp.ClientSession, targets: list[Target], timeout: float = 20.0) -> None:
    """Until no target has a room left (an empty room closes after its grace period), bounded."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        rooms = 0
        for target in targets:
            async with http.get(f"{target.url.rstrip('/')}/health") as response:
                rooms += int((await response.json()).get("rooms", 0))
        if rooms == 0:
            return
        await asyncio.sleep(0.5)


async def cpu_per_request(
    targets: list[Target], options: SignalingOptions, progress: Progress,
    placement: list[Target] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """``placement``: the node of each peer (default: peer i on node i mod n)."""
    async with aiohttp.ClientSession() as http:
        await settled(http, targets)
        marks: dict[str, float] = {}

        async def probe(moment: str) -> None:
            marks[moment] = await controller_cpu(http, targets)

        before = await controller_cpu(http, targets)
        result = await run_signaling(targets[0], options, progress, spread=placement or targets, probe=probe)
        after = await controller_cpu(http, targets)
    requests = max(result["requests"], 1)
    loaded = after - before - (marks["leave"] - marks["hold"])
    return {
        "nodes": len(targets),
        "requests": result["requests"],
        "errors": result["errors"],
        "controllerCpuMsPerRequest": round(loaded * 1000 / requests, 3),
    }


def whole_rooms(nodes: list[Target], options: SignalingOptions) -> list[Target]:
    """Each room wholly on one node: room r on node r mod n."""
    return [nodes[(i // options.room_size) % len(nodes)] for i in range(options.peers)]


async def compare(
    single: Target, nodes: list[Target], options: SignalingOptions, rounds: int, progress: Progress
) -> dict[str, Any]:
    """The three loads alternated ``rounds`` times; each one's runs and their median."""
    modes: dict[str, tuple[list[Target], list[Target] | None]] = {
        "singleNode": ([single], None),
        "clusterWholeRooms": (nodes, whole_rooms(nodes, options)),
        "cluster": (nodes, None),
    }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in modes}
    for n in range(rounds):
        for name, (targets, placement) in modes.items():
            run = replace(options, room_prefix=f"bench-{name}-{n}")
            runs[name].append(await cpu_per_request(targets, run, progress, placement))
    out: dict[str, Any] = {}
    for name, results in runs.items():
        values = [r["controllerCpuMsPerRequest"] for r in results]
        errors: dict[str, int] = {}
        for r in results:
            for key, count in r["errors"].items():
                errors[key] = errors.get(key, 0) + count
        out[name] = {
            "nodes": results[0]["nodes"],
            "requests": results[0]["requests"],
            "errors": errors,
            "controllerCpuMsPerRequest": round(statistics.median(values), 3),
            "runs": values,
        }
    return out


async def round_trips_per_join(targets: list[Target], joins: int, room: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        clients = []
        before = await round_trips(http, targets)
        started = time.monotonic()
        for n in range(joins):
            client = SignalingClient(http)
            node = targets[n % len(targets)]
            await client.connect(node.ws_url, node.token(room, f"rt-{n}"))
            await client.join()
            clients.append(client)
        seconds = time.monotonic() - started
        after = await round_trips(http, targets)
        for client in clients:
            await client.close()
    return {
        "joins": joins,
        "seconds": round(seconds, 2),
        "roundTripsPerJoin": round((after - before) / joins, 2),
    }


async def first_frames(targets: list[Target], joins: int, room: str, progress: Progress) -> dict[str, Any]:
    """A publisher on the first node; joiners alternately on it and on the second node."""
    same: list[float] = []
    cross: list[float] = []
    failures: dict[str, int] = {}
    with loopback_ice(True):
        async with aiohttp.ClientSession() as http:
            track = moving_video_track()
            publisher = MediaPeer(http, [track])
            await publisher.join(targets[0], room, "publisher")
            send = await publisher.transport("send")
            producer = await send.produce(track=track, stopTracks=False)
            for n in range(2 * joins):
                node, into = (targets[0], same) if n % 2 == 0 else (targets[1], cross)
                joiner = MediaPeer(http)
                started = time.perf_counter()
                try:
                    await joiner.join(node, room, f"joiner-{n}")
                    await joiner.consume_first_frame(producer.id)
                    into.append(time.perf_counter() - started)
                except Exception as error:  # a failed trial is reported, not fatal
                    failures[type(error).__name__] = failures.get(type(error).__name__, 0) + 1
                finally:
                    await joiner.close()
                progress("first frame", n + 1, 2 * joins)
            await publisher.close()
    return {"sameNodeMs": latency_summary(same), "crossNodeMs": latency_summary(cross), "failures": failures}


async def run_cluster(
    single: Target, nodes: list[Target], options: SignalingOptions, joins: int, progress: Progress,
    rounds: int = 3,
) -> dict[str, Any]:  # fmt: skip
    cpu = await compare(single, nodes, options, rounds, progress)
    alone = cpu["singleNode"]["controllerCpuMsPerRequest"]

    def ratio(name: str) -> float:
        return round(float(cpu[name]["controllerCpuMsPerRequest"]) / max(float(alone), 1e-9), 2)

    return {
        "mode": "cluster",
        "options": vars(options),
        "rounds": rounds,
        **cpu,
        "cpuPerRequestRatio": ratio("cluster"),
        "wholeRoomsRatio": ratio("clusterWholeRooms"),
        "redis": await round_trips_per_join(nodes, joins * 2, "bench-rt"),
        "firstFrame": await first_frames(nodes, joins, "bench-ff", progress),
    }
