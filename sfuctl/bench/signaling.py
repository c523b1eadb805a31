"""Signaling load: N peers join, open send+recv transports, produce, consume each other, leave.

Peers are lightweight (``SignalingClient``): no media stack, valid client-side RTP parameters.
Phases run one after the other for every peer (a barrier between them), so the consume phase
sees every producer and each request type's latency is measured under the same load.

The tool shares the host with the server: it runs on uvloop, mints its tokens before the clock
starts, and reports its own CPU (``toolCpuPercent``), so its cost is visible next to the server's.
Its own garbage collector runs between phases only, when no request is in flight (see
``collected_between_phases``): an automatic full collection in the middle of a phase held
every reply the tool was waiting for (~100 ms with 500 peers), counted as server latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from sfuctl.bench.common import Target, latency_summary, sample_server, server_usage
from sfuctl.client import RequestError, SignalingClient

Progress = Callable[[str, int, int], None]
"""(phase, done, total)."""
Probe = Callable[[str], Awaitable[None]]
"""Called with "hold" when the full load is reached and with "leave" when the hold ends."""


@dataclass
class SignalingOptions:
    peers: int = 500
    room_size: int = 10
    consume_cap: int = 9
    """Consumers per peer at most (every other producer of the room up to this)."""
    concurrency: int = 100
    """Requests in flight at once, across peers."""
    hold: float = 2.0
    """Seconds the full load is held before leaving (server CPU/RSS is sampled then)."""
    room_prefix: str = "bench"


def announcing(producer_id: str) -> Callable[[dict[str, Any]], bool]:
    """Matches the ``new-producer`` event of that producer."""
    return lambda data: data.get("producerId") == producer_id


@contextlib.contextmanager
def collected_between_phases() -> Iterator[None]:
    """The tool's automatic collections off (each phase starts with ``gc.collect()``). Objects
    from before (the peers, aiohttp) are frozen, so that is quick; within a phase the garbage is
    bounded by the phase's requests."""
    enabled = gc.isenabled()
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()


async def run_signaling(
    target: Target, options: SignalingOptions, progress: Progress, spread: list[Target] | None = None,
    probe: Probe | None = None,
) -> dict[str, Any]:  # fmt: skip
    """``spread``: nodes of a cluster; peer i connects to node i mod n, so rooms span nodes.
    ``probe``: told when the hold starts and ends (to leave the idle hold out of a measurement)."""
    nodes = spread or [target]
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: Counter[str] = Counter()
    gate = asyncio.Semaphore(options.concurrency)
    connector = target.connector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:
        before = await sample_server(http, target.url)
        peers = [SignalingClient(http, latencies) for _ in range(options.peers)]
        room_of = [f"{options.room_prefix}-{i // options.room_size}" for i in range(options.peers)]
        tokens = [nodes[i % len(nodes)].token(room_of[i], f"bench-{i}") for i in range(options.peers)]
        alive = [True] * options.peers
        sends: list[dict[str, Any]] = [{}] * options.peers
        recvs: list[dict[str, Any]] = [{}] * options.peers
        producers: dict[int, str] = {}

        async def phase(name: str, step: Callable[[int], Awaitable[None]]) -> None:
            gc.collect()  # no request in flight: this pause delays none
            done = 0

            async def one(i: int) -> None:
                nonlocal done
                if alive[i]:
                    async with gate:
                        try:
                            await step(i)
                        except RequestError as error:
                            errors[f"{error.type}: {error.code}"] += 1
                            alive[i] = error.type not in ("join-room", "connect")
                        except (aiohttp.ClientError, ConnectionError, TimeoutError) as error:
                            errors[f"{name}: {type(error).__name__}"] += 1
                            alive[i] = False
                done += 1
                progress(name, done, options.peers)

            await asyncio.gather(*(one(i) for i in range(options.peers)))

        async def connect(i: int) -> None:
            started = time.perf_counter()
            await peers[i].connect(nodes[i % len(nodes)].ws_url, tokens[i])
            latencies["(websocket open)"].append(time.perf_counter() - started)
            await peers[i].join()

        async def transports(i: int) -> None:
            sends[i] = await peers[i].create_transport("send")
            recvs[i] = await peers[i].create_transport("recv")

        async def produce(i: int) -> None:
            producers[i] = await peers[i].produce_audio(sends[i]["id"])

        async def consume(i: int) -> None:
            first = (i // options.room_size) * options.room_size
            others = [j for j in range(first, min(first + options.room_size, options.peers)) if j != i]
            for j in [j for j in others if j in producers][: options.consume_cap]:
                # as a client does, once told of it: on another node of a cluster, the event
                # can still be on its way when the producer's own answer came
                await peers[i].wait_event("new-producer", announcing(producers[j]))
                consumer = await peers[i].consume(recvs[i]["id"], producers[j])
                await peers[i].request("resume-consumer", {"consumerId": consumer["id"]})

        async def leave(i: int) -> None:
            await peers[i].request("leave-room")

        with collected_between_phases():
            started, tool_cpu = time.monotonic(), time.process_time()
            for name, step in (("join", connect), ("transports", transports), ("produce", produce),
                               ("consume", consume)):  # fmt: skip
                await phase(name, step)
            active = time.monotonic() - started
            tool_cpu = time.process_time() - tool_cpu
            if probe is not None:
                await probe("hold")
            await asyncio.sleep(options.hold)
            loaded = await sample_server(http, target.url)
            if probe is not None:
                await probe("leave")
            leave_cpu = time.process_time()
            await phase("leave", leave)
            tool_cpu += time.process_time() - leave_cpu
        elapsed = time.monotonic() - started - options.hold
        await asyncio.gather(*(peer.close() for peer in peers))
    total = sum(len(v) for k, v in latencies.items() if not k.startswith("("))
    every = [x for k, v in latencies.items() if not k.startswith("(") for x in v]
    return {
        "mode": "signaling",
        "options": vars(options),
        "peersJoined": sum(1 for i in range(options.peers) if peers[i].joined),
        "producers": len(producers),
        "requests": total,
        "requestsPerSecond": round(total / max(elapsed, 1e-6), 1),
        "secondsToFullLoad": round(active, 2),
        "latencyMs": {"all": latency_summary(every)}
        | {k: latency_summary(v) for k, v in sorted(latencies.items())},
        "errors": dict(errors),
        "server": server_usage(before, loaded),
        "toolCpuPercent": round(tool_cpu / max(elapsed, 1e-6) * 100, 1),
        "toolCpuMicrosecondsPerRequest": round(tool_cpu / max(total, 1) * 1e6),
    }
