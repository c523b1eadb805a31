"""Media fan-out: one publisher sends real SRTP, K consumers receive it; loss, jitter, worker CPU.

Publisher and receivers are ``LiteEndpoint``s on real WebRtcTransports created through the
signaling protocol (no server-side hook): ICE + DTLS are real, the RTP is synthetic Opus-sized
packets at a chosen rate. Receivers only count clear-text RTP headers, and the tool reports its
own CPU and the kernel's UDP receive-buffer drops, so a run where the tool (not the SFU) was the
bottleneck shows it.
"""

from __future__ import annotations

import asyncio
import os
import struct
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import psutil

from sfuctl.bench.common import Target, percentile, sample_server, server_usage
from sfuctl.bench.litertc import LiteEndpoint, dtls_parameters
from sfuctl.bench.peer import SignalingPeer, audio_rtp_parameters
from sfuctl.bench.signaling import Progress

PUBLISHER_SSRC = 0x5FC7_0001
PAYLOAD_TYPE = 111
CLOCK_RATE = 48000
SETTLE_SECONDS = 1.0


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


async def open_endpoint(peer: SignalingPeer, direction: str) -> LiteEndpoint:
    info = await peer.create_transport(direction)
    await peer.request("connect-transport", {"transportId": info["id"], "dtlsParameters": dtls_parameters()})
    endpoint = LiteEndpoint(info)
    await endpoint.start()
    return endpoint


async def send_stream(endpoint: LiteEndpoint, options: FanoutOptions) -> int:
    """Paced on an absolute schedule (no drift); returns the packets sent."""
    loop = asyncio.get_running_loop()
    payload = os.urandom(options.size)
    total = int(options.duration * options.pps)
    step = CLOCK_RATE // options.pps
    start = loop.time()
    sent = 0
    while sent < total:
        due = min(total, int((loop.time() - start) * options.pps) + 1)
        while sent < due:
            header = struct.pack("!BBHII", 0x80, PAYLOAD_TYPE, sent & 0xFFFF, sent * step, PUBLISHER_SSRC)
            endpoint.send_rtp(header + payload)
            sent += 1
        await asyncio.sleep(max(0.0, start + sent / options.pps - loop.time()))
    return sent


async def run_fanout(target: Target, options: FanoutOptions, progress: Progress) -> dict[str, Any]:
    per_peer = options.consumers_per_transport * options.transports_per_peer
    peer_count = -(-options.receivers // per_peer)
    endpoints: list[LiteEndpoint] = []
    peers: list[SignalingPeer] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:
        publisher = SignalingPeer(http)
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
                peer = SignalingPeer(http)
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
        await asyncio.sleep(SETTLE_SECONDS)
        me = psutil.Process()
        drops_before, cpu_before = udp_receive_errors(), me.cpu_times()
        before = await sample_server(http, target.url)
        progress("sending", 0, 1)
        started = time.monotonic()
        sent = await send_stream(sender, options)
        after = await sample_server(http, target.url)
        await asyncio.sleep(SETTLE_SECONDS)  # packets still in flight
        elapsed = time.monotonic() - started - SETTLE_SECONDS
        cpu_after, drops_after = me.cpu_times(), udp_receive_errors()
        progress("sending", 1, 1)
        streams = [s for e in endpoints[1:] for s in e.streams.values()]
        for endpoint in endpoints:
            endpoint.close()
        await asyncio.gather(*(peer.close() for peer in peers))
    received = [s.packets for s in streams] + [0] * (options.receivers - len(streams))
    losses = [max(0.0, 1 - r / sent) * 100 for r in received]
    jitters = [s.jitter / CLOCK_RATE * 1000 for s in streams]
    usage = server_usage(before, after)
    tool_cpu = (cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system) / elapsed * 100
    return {
        "mode": "fanout",
        "publisher": "LiteEndpoint (ICE+DTLS+SRTP over a WebRtcTransport), synthetic Opus-sized RTP",
        "options": vars(options),
        "consumers": options.receivers,
        "streamsReceived": len(streams),
        "packetsSent": sent,
        "packetsReceived": sum(received),
        "packetsExpected": sent * options.receivers,
        "lossPercent": round(100 - sum(received) / max(1, sent * options.receivers) * 100, 3),
        "worstLossPercent": round(max(losses, default=0), 3),
        "jitterMs": {"p50": round(percentile(jitters, 50), 3), "p95": round(percentile(jitters, 95), 3)},
        "forwardedPacketsPerSecond": round(sum(received) / elapsed, 1),
        "server": usage,
        "workerCpuPercentPerConsumer": round(usage["workersCpuPercent"] / max(1, options.receivers), 4),
        "tool": {"cpuPercent": round(tool_cpu, 1), "udpReceiveBufferDrops": drops_after - drops_before},
    }
