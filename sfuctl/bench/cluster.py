"""The cluster's cost, measured against one node in the same run (the machine cannot show the
throughput gain of more machines, so this reports what predicts it):

* controller CPU per signaling request: the same load (``run_signaling``) on one node without
  Redis, then spread over the cluster's nodes (peer i on node i mod n, so rooms span nodes and
  consumers are piped between them); CPU of every node's controller process over the run;
* Redis round trips per join (the nodes' ``sfuctl_cluster_redis_round_trips_total``; heartbeats
  during the phase included, one per node per TTL/3);
* join → first decoded frame for a consumer on the publisher's node and on another node.
"""

from __future__ import annotations

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


async def cpu_per_request(
    targets: list[Target], options: SignalingOptions, progress: Progress
) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        before = await controller_cpu(http, targets)
        result = await run_signaling(targets[0], options, progress, spread=targets)
        after = await controller_cpu(http, targets)
    requests = max(result["requests"], 1)
    return {
        "nodes": len(targets),
        "requests": result["requests"],
        "errors": result["errors"],
        "controllerCpuMsPerRequest": round((after - before) * 1000 / requests, 3),
    }


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
    single: Target, nodes: list[Target], options: SignalingOptions, joins: int, progress: Progress
) -> dict[str, Any]:
    alone = await cpu_per_request([single], replace(options, room_prefix="bench-one"), progress)
    spread = await cpu_per_request(nodes, replace(options, room_prefix="bench-cluster"), progress)
    ratio = spread["controllerCpuMsPerRequest"] / max(alone["controllerCpuMsPerRequest"], 1e-9)
    return {
        "mode": "cluster",
        "options": vars(options),
        "singleNode": alone,
        "cluster": spread,
        "cpuPerRequestRatio": round(ratio, 2),
        "redis": await round_trips_per_join(nodes, joins * 2, "bench-rt"),
        "firstFrame": await first_frames(nodes, joins, "bench-ff", progress),
    }
