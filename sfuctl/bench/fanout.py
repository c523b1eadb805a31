"""Media fan-out: one publisher sends real SRTP, K consumers receive it; loss, jitter, worker CPU.

Publisher and receivers are ``LiteEndpoint``s on real WebRtcTransports created through the
signaling protocol (no server-side hook): ICE + DTLS are real, the RTP is synthetic Opus-sized
packets at a chosen rate. Receivers only count clear-text RTP headers, and the tool reports its
own CPU, its event-loop lag, how late the publisher ran and the kernel's drops on its own sockets,
so a run where the tool (not the SFU) was the bottleneck shows it.

Loss is counted after a drain: once sending ends, the receivers are read until nothing has come
for ``QUIET_SECONDS``. Packets that arrive after ``SETTLE_SECONDS`` are *late*, not lost: a chain
short of CPU (the SFU worker, or this tool on the same host) falls behind real time and catches up
later, and counting at a fixed moment would report that backlog as loss, equal on every consumer
and with no kernel drop. Late packets and the delay behind the publisher's schedule are reported
on their own.
"""

from __future__ import annotations

import asyncio
import os
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp
import psutil

from sfuctl.bench.common import Target, percentile, sample_server, server_usage
from sfuctl.bench.litertc import LiteEndpoint, dtls_parameters
from sfuctl.bench.signaling import Progress
from sfuctl.client import SignalingClient, audio_rtp_parameters

PUBLISHER_SSRC = 0x5FC7_0001
PAYLOAD_TYPE = 111
CLOCK_RATE = 48000
SETTLE_SECONDS = 1.0
"""Before sending (consumers settle) and after: a packet not in by then is late."""
QUIET_SECONDS = 0.5
"""The drain ends when no receiver got anything for this long ..."""
DRAIN_SECONDS = 15.0
"""... or after this long."""


@dataclass
class FanoutOptions:
    receivers: int = 500
    """Consumers of the one producer."""
    consumers_per_transport: int = 1
    transports_per_peer: int = 4
    duration: float = 10.0
    pps: int = 50
    """Packets per second sent (50 = one Opus stream)."""
    size: int = 160
    """RTP payload bytes."""
    concurrency: int = 20
    room: str = "bench-fanout"


def udp_receive_errors() -> int:
    """Datagrams the kernel dropped for full socket buffers, either side (all sockets of the host)."""
    with open("/proc/net/snmp") as snmp:
        lines = [line.split() for line in snmp if line.startswith("Udp:")]
    header, values = lines[0], lines[1]
    return sum(int(values[header.index(name)]) for name in ("RcvbufErrors", "SndbufErrors"))


def socket_drops(ports: Iterable[int]) -> int:
    """Datagrams the kernel dropped on these local UDP ports (IPv4): this tool's sockets only."""
    wanted = set(ports)
    drops = 0
    with open("/proc/net/udp") as table:
        next(table)
        for line in table:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) in wanted:
                drops += int(fields[-1])
    return drops


@dataclass
class SendReport:
    sent: int
    latest: float
    """Seconds the publisher was behind its schedule at worst (its loop was busy)."""


async def loop_lag(samples: list[float], period: float = 0.01) -> None:
    """How late the event loop wakes up, every ``period``; cancelled by the caller."""
    while True:
        due = time.monotonic() + period
        await asyncio.sleep(period)
        samples.append(max(0.0, time.monotonic() - due))


async def open_endpoint(peer: SignalingClient, direction: str) -> LiteEndpoint:
    info = await peer.create_transport(direction)
    await peer.request("connect-transport", {"transportId": info["id"], "dtlsParameters": dtls_parameters()})
    endpoint = LiteEndpoint(info)
    await endpoint.start()
    return endpoint


async def send_stream(endpoint: LiteEndpoint, options: FanoutOptions, start: float) -> SendReport:
    """Paced on an absolute schedule from ``start`` (``time.monotonic()``; no drift): packet n,
    RTP timestamp n x clock / pps, is due at start + n / pps. A late loop sends the overdue
    packets at once."""
    payload = os.urandom(options.size)
    total = int(options.duration * options.pps)
    step = CLOCK_RATE // options.pps
    sent = 0
    latest = 0.0
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    while sent < total:
        now = time.monotonic()
        due = min(total, int((now - start) * options.pps) + 1)
        latest = max(latest, now - (start + sent / options.pps))
        while sent < due:
            header = struct.pack("!BBHII", 0x80, PAYLOAD_TYPE, sent & 0xFFFF, sent * step, PUBLISHER_SSRC)
            endpoint.send_rtp(header + payload)
            sent += 1
        await asyncio.sleep(max(0.0, start + sent / options.pps - time.monotonic()))
    return SendReport(sent, latest)


async def drain(endpoints: list[LiteEndpoint]) -> float:
    """Wait until no receiver has got a packet for QUIET_SECONDS (or DRAIN_SECONDS); seconds."""
    started = time.monotonic()
    last = -1
    while time.monotonic() - started < DRAIN_SECONDS:
        count = sum(s.packets for e in endpoints for s in e.streams.values())
        if count == last:
            break
        last = count
        await asyncio.sleep(QUIET_SECONDS)
    return time.monotonic() - started


async def room_routers(http: aiohttp.ClientSession, target: Target, room: str) -> list[dict[str, Any]]:
    """Where the room's consumers are: its routers (one per worker it spread to), from the admin
    API; empty when the token is refused or the server predates spreading."""
    headers = {"Authorization": f"Bearer {target.token('*', 'bench-admin', admin=True)}"}
    async with http.get(f"{target.url.rstrip('/')}/rooms/{room}", headers=headers) as resp:
        if resp.status != 200:
            return []
        detail: dict[str, Any] = await resp.json()
    return [
        {key: router[key] for key in ("workerPid", "main", "peers", "consumers", "pipeTransports")}
        for router in detail.get("routers", [])
    ]


async def run_fanout(target: Target, options: FanoutOptions, progress: Progress) -> dict[str, Any]:
    per_peer = options.consumers_per_transport * options.transports_per_peer
    peer_count = -(-options.receivers // per_peer)
    endpoints: list[LiteEndpoint] = []
    peers: list[SignalingClient] = []
    connector = target.connector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:
        publisher = SignalingClient(http)
        peers.append(publisher)
        await publisher.connect(target.ws_url, target.token(options.room, "publisher"))
        await publisher.join()
        sender = await open_endpoint(publisher, "send")
        endpoints.append(sender)
        produced = await publisher.request(
            "produce",
            {"transportId": sender.info["id"], "kind": "audio",
             "rtpParameters": audio_rtp_parameters(PUBLISHER_SSRC)},
        )  # fmt: skip
        producer_id = produced["id"]
        gate = asyncio.Semaphore(options.concurrency)
        ready = 0

        async def receiver_peer(index: int) -> None:
            nonlocal ready
            async with gate:
                peer = SignalingClient(http)
                peers.append(peer)
                await peer.connect(target.ws_url, target.token(options.room, f"receiver-{index}"))
                await peer.join()
                for t in range(options.transports_per_peer):
                    first = (index * options.transports_per_peer + t) * options.consumers_per_transport
                    count = min(options.consumers_per_transport, options.receivers - first)
                    if count <= 0:
                        return
                    endpoint = await open_endpoint(peer, "recv")
                    endpoints.append(endpoint)
                    for _ in range(count):
                        consumer = await peer.consume(endpoint.info["id"], producer_id)
                        await peer.request("resume-consumer", {"consumerId": consumer["id"]})
                        ready += 1
                        progress("receivers", ready, options.receivers)

        await asyncio.gather(*(receiver_peer(i) for i in range(peer_count)))
        spread = await room_routers(http, target, options.room)
        await asyncio.sleep(SETTLE_SECONDS)
        receivers = endpoints[1:]
        ports = [e.local_port for e in receivers]
        me = psutil.Process()
        host_drops_before, cpu_before = udp_receive_errors(), me.cpu_times()
        own_drops_before = socket_drops(ports)
        before = await sample_server(http, target.url)
        progress("sending", 0, 1)
        lags: list[float] = []
        lag_task = asyncio.get_running_loop().create_task(loop_lag(lags))
        started = time.monotonic() + 0.02
        for endpoint in receivers:
            endpoint.origin = started
        on_time: list[int] = []
        deadline = started + options.duration + SETTLE_SECONDS
        snapshot = asyncio.get_running_loop().call_later(  # not delayed by the awaits below
            deadline - time.monotonic(),
            lambda: on_time.extend(sum(s.packets for s in e.streams.values()) for e in receivers),
        )
        report = await send_stream(sender, options, started)
        after = await sample_server(http, target.url)
        await asyncio.sleep(max(0.0, deadline - time.monotonic()) + 0.05)
        elapsed = time.monotonic() - started
        lag_task.cancel()
        cpu_after, host_drops_after = me.cpu_times(), udp_receive_errors()
        if not on_time:  # the loop ran the snapshot late or not yet
            snapshot.cancel()
            on_time.extend(sum(s.packets for s in e.streams.values()) for e in receivers)
        drained = await drain(receivers)
        own_drops = socket_drops(ports) - own_drops_before
        progress("sending", 1, 1)
        streams = [s for e in receivers for s in e.streams.values()]
        for endpoint in endpoints:
            endpoint.close()
        await asyncio.gather(*(peer.close() for peer in peers))
    sent = report.sent
    expected = sent * options.receivers
    received = [s.packets for s in streams] + [0] * (options.receivers - len(streams))
    losses = [max(0.0, 1 - r / sent) * 100 for r in received]
    jitters = [s.jitter / CLOCK_RATE * 1000 for s in streams]
    usage = server_usage(before, after)
    tool_cpu = (cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system) / elapsed * 100
    late = sum(received) - sum(on_time)
    return {
        "mode": "fanout",
        "publisher": "LiteEndpoint (ICE+DTLS+SRTP over a WebRtcTransport), synthetic Opus-sized RTP",
        "options": vars(options),
        "consumers": options.receivers,
        "streamsReceived": len(streams),
        "packetsSent": sent,
        "packetsReceived": sum(received),
        "packetsExpected": expected,
        "lossPercent": round(100 - sum(received) / max(1, expected) * 100, 3),
        "worstLossPercent": round(max(losses, default=0), 3),
        "latePackets": late,
        "latePercent": round(late / max(1, expected) * 100, 3),
        "drainSeconds": round(drained, 2),
        "jitterMs": {"p50": round(percentile(jitters, 50), 3), "p95": round(percentile(jitters, 95), 3)},
        "delayMs": {
            "meanP50": round(percentile([s.delay_mean * 1000 for s in streams], 50), 2),
            "meanP95": round(percentile([s.delay_mean * 1000 for s in streams], 95), 2),
            "max": round(max((s.delay_max * 1000 for s in streams), default=0), 2),
        },
        "forwardedPacketsPerSecond": round(sum(on_time) / elapsed, 1),
        "server": usage,
        "roomRouters": spread,
        "workerCpuPercentPerConsumer": round(usage["workersCpuPercent"] / max(1, options.receivers), 4),
        "tool": {
            "cpuPercent": round(tool_cpu, 1),
            "loopLagMs": {
                "p99": round(percentile(lags, 99) * 1000, 2),
                "max": round(max(lags, default=0) * 1000, 2),
            },
            "publisherLateMs": round(report.latest * 1000, 2),
            "socketDrops": own_drops,
            "sendErrors": sum(e.send_errors for e in endpoints),
            "udpReceiveBufferDrops": host_drops_after - host_drops_before,
        },
    }
