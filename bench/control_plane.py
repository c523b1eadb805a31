"""Control-plane benchmark: our asyncio controller vs mediasoup's own Node library, same worker binary.

One round, on a fresh worker: create a router, N WebRTC transports, produce audio + video on the
first half of them, consume every producer on each transport of the other half (paused), close
the router (a worker dump round-trip confirms the close was processed). Each phase is timed; the
worker start is timed but not counted as control-plane work. Both sides get the very same
scenario (sizes, codecs, RTP parameters, capabilities, in-flight request limit): Python passes
it to ``bench/node/control_plane.mjs`` as JSON on stdin.

Each side runs ``--warmup`` discarded rounds and then ``--rounds`` measured ones; the round of
**median** total time is reported. The last line is ``control-plane python/node ratio: X.XX``
(ops/s Python / ops/s Node; above 1 means our controller is faster).

    .venv/bin/python bench/control_plane.py [--transports 100] [--rounds 3] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from sfuctl.server.media.worker import Worker, WorkerSettings  # noqa: E402
from sfuctl.server.media.worker_bin import find_worker_bin  # noqa: E402
from sfuctl.server.serve import install_event_loop_policy, tune_gc  # noqa: E402

NODE_DIR = Path(__file__).resolve().parent / "node"
NODE_SCRIPT = NODE_DIR / "control_plane.mjs"
PHASES = ("router", "transports", "produce", "consume", "close")

T = TypeVar("T")
R = TypeVar("R")

# -- the scenario (shared with the Node side) ------------------------------------------------

MEDIA_CODECS: list[dict[str, Any]] = [
    {"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2},
    {"kind": "video", "mimeType": "video/VP8", "clockRate": 90000},
    {
        "kind": "video",
        "mimeType": "video/H264",
        "clockRate": 90000,
        "parameters": {
            "packetization-mode": 1,
            "profile-level-id": "42e01f",
            "level-asymmetry-allowed": 1,
        },
    },
]

# A browser-like audio sender (after mediasoup's test-Consumer.js).
AUDIO_RTP_PARAMETERS: dict[str, Any] = {
    "mid": "0",
    "codecs": [
        {
            "mimeType": "audio/opus",
            "payloadType": 111,
            "clockRate": 48000,
            "channels": 2,
            "parameters": {"minptime": 10, "useinbandfec": 1, "usedtx": 1},
            "rtcpFeedback": [{"type": "transport-cc", "parameter": ""}],
        }
    ],
    "headerExtensions": [
        {"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": 4},
        {"uri": "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time", "id": 2},
        {
            "uri": "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
            "id": 3,
        },
        {"uri": "urn:ietf:params:rtp-hdrext:ssrc-audio-level", "id": 1},
    ],
    "encodings": [{"ssrc": 11111111, "dtx": True}],
    "rtcp": {"cname": "FOOBAR", "reducedSize": True},
    "msid": "1111-1111-1111-1111 2222-2222-2222-2222",
}

# H264 (42e01f) with RTX, three simulcast streams by SSRC (as test-Consumer.js, 3 layers).
VIDEO_SEND_FEEDBACK = [
    {"type": "goog-remb", "parameter": ""},
    {"type": "transport-cc", "parameter": ""},
    {"type": "ccm", "parameter": "fir"},
    {"type": "nack", "parameter": ""},
    {"type": "nack", "parameter": "pli"},
]
VIDEO_RTP_PARAMETERS: dict[str, Any] = {
    "mid": "1",
    "codecs": [
        {
            "mimeType": "video/H264",
            "payloadType": 112,
            "clockRate": 90000,
            "parameters": {
                "level-asymmetry-allowed": 1,
                "packetization-mode": 1,
                "profile-level-id": "42e01f",
            },
            "rtcpFeedback": VIDEO_SEND_FEEDBACK,
        },
        {"mimeType": "video/rtx", "payloadType": 113, "clockRate": 90000, "parameters": {"apt": 112}},
    ],
    "headerExtensions": [
        {"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": 4},
        {"uri": "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time", "id": 2},
        {
            "uri": "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
            "id": 3,
        },
        {"uri": "urn:3gpp:video-orientation", "id": 13},
        {"uri": "urn:ietf:params:rtp-hdrext:toffset", "id": 14},
    ],
    "encodings": [
        {"ssrc": 22222222, "scalabilityMode": "L1T3", "maxBitrate": 150000, "rtx": {"ssrc": 22222223}},
        {"ssrc": 22222224, "scalabilityMode": "L1T3", "maxBitrate": 500000, "rtx": {"ssrc": 22222225}},
        {"ssrc": 22222226, "scalabilityMode": "L1T3", "maxBitrate": 1500000, "rtx": {"ssrc": 22222227}},
    ],
    "rtcp": {"cname": "FOOBAR", "reducedSize": True},
    "msid": "3333-3333-3333-3333 4444-4444-4444-4444",
}

_FB = [
    {"type": "nack", "parameter": ""},
    {"type": "nack", "parameter": "pli"},
    {"type": "ccm", "parameter": "fir"},
    {"type": "goog-remb", "parameter": ""},
    {"type": "transport-cc", "parameter": ""},
]
# A browser-like receiving device.
RTP_CAPABILITIES: dict[str, Any] = {
    "codecs": [
        {
            "kind": "audio",
            "mimeType": "audio/opus",
            "preferredPayloadType": 100,
            "clockRate": 48000,
            "channels": 2,
            "parameters": {"minptime": 10, "useinbandfec": 1},
            "rtcpFeedback": [{"type": "transport-cc", "parameter": ""}],
        },
        {
            "kind": "video",
            "mimeType": "video/VP8",
            "preferredPayloadType": 101,
            "clockRate": 90000,
            "rtcpFeedback": _FB,
        },
        {
            "kind": "video",
            "mimeType": "video/rtx",
            "preferredPayloadType": 102,
            "clockRate": 90000,
            "parameters": {"apt": 101},
            "rtcpFeedback": [],
        },
        {
            "kind": "video",
            "mimeType": "video/H264",
            "preferredPayloadType": 103,
            "clockRate": 90000,
            "parameters": {
                "level-asymmetry-allowed": 1,
                "packetization-mode": 1,
                "profile-level-id": "42e01f",
            },
            "rtcpFeedback": _FB,
        },
        {
            "kind": "video",
            "mimeType": "video/rtx",
            "preferredPayloadType": 104,
            "clockRate": 90000,
            "parameters": {"apt": 103},
            "rtcpFeedback": [],
        },
    ],
    "headerExtensions": [
        {"kind": k, "uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "preferredId": 1, "preferredEncrypt": False}
        for k in ("audio", "video")
    ]
    + [
        {
            "kind": k,
            "uri": "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
            "preferredId": 4,
            "preferredEncrypt": False,
        }
        for k in ("audio", "video")
    ]
    + [
        {
            "kind": "video",
            "uri": "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
            "preferredId": 5,
            "preferredEncrypt": False,
        },
        {
            "kind": "audio",
            "uri": "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            "preferredId": 10,
            "preferredEncrypt": False,
        },
        {"kind": "video", "uri": "urn:3gpp:video-orientation", "preferredId": 11, "preferredEncrypt": False},
        {
            "kind": "video",
            "uri": "urn:ietf:params:rtp-hdrext:toffset",
            "preferredId": 12,
            "preferredEncrypt": False,
        },
    ],
}

LISTEN_INFOS: list[dict[str, Any]] = [{"protocol": "udp", "ip": "127.0.0.1"}]


def scenario(transports: int, rounds: int, warmup: int, concurrency: int) -> dict[str, Any]:
    return {
        "transports": transports,
        "rounds": rounds,
        "warmup": warmup,
        "concurrency": concurrency,
        "mediaCodecs": MEDIA_CODECS,
        "audioRtpParameters": AUDIO_RTP_PARAMETERS,
        "videoRtpParameters": VIDEO_RTP_PARAMETERS,
        "rtpCapabilities": RTP_CAPABILITIES,
        "listenInfos": LISTEN_INFOS,
    }


# -- Python side ------------------------------------------------------------------------------

Round = dict[str, Any]
"""{"phases": {phase: {"seconds", "requests"}}, "controllerCpu": s, "workerCpu": s}"""


async def _pool(items: Sequence[T], concurrency: int, fn: Callable[[T], Awaitable[R]]) -> list[R]:
    """``fn`` over ``items`` with at most ``concurrency`` calls in flight (as the Node side)."""
    out: list[R | None] = [None] * len(items)
    cursor = 0

    async def lane() -> None:
        nonlocal cursor
        while cursor < len(items):
            i = cursor
            cursor += 1
            out[i] = await fn(items[i])

    await asyncio.gather(*(lane() for _ in range(min(concurrency, len(items)))))
    return out  # type: ignore[return-value]


async def python_round(sc: dict[str, Any], worker_bin: str, profile: cProfile.Profile | None = None) -> Round:
    t0 = time.perf_counter()
    worker = await Worker.start(WorkerSettings(log_level="error", worker_bin=worker_bin))
    phases: dict[str, dict[str, float]] = {}
    t = time.perf_counter()
    phases["worker_start"] = {"seconds": t - t0, "requests": 0}

    cpu0 = cpu_t = time.process_time()

    def mark(name: str, requests: int) -> None:
        nonlocal t, cpu_t
        now, cpu = time.perf_counter(), time.process_time()
        phases[name] = {"seconds": now - t, "requests": requests, "cpu": cpu - cpu_t}
        t, cpu_t = now, cpu

    try:
        if profile is not None:
            profile.enable()
        router = await worker.create_router(sc["mediaCodecs"])
        mark("router", 1)

        transports = await _pool(
            range(sc["transports"]),
            sc["concurrency"],
            lambda _: router.create_webrtc_transport(listen_infos=sc["listenInfos"]),
        )
        mark("transports", len(transports))

        half = len(transports) // 2
        senders, receivers = transports[:half], transports[half:]
        jobs = [(tr, kind, sc[f"{kind}RtpParameters"]) for tr in senders for kind in ("audio", "video")]
        producers = await _pool(jobs, sc["concurrency"], lambda j: j[0].produce(j[1], j[2]))
        mark("produce", len(producers))

        pairs = [(tr, p.id) for tr in receivers for p in producers]
        caps = sc["rtpCapabilities"]
        await _pool(pairs, sc["concurrency"], lambda j: j[0].consume(j[1], caps, paused=True))
        mark("consume", len(pairs))

        # close() is fire-and-forget on both sides: a dump round-trip proves the worker did it.
        router.close()
        await worker.dump()
        mark("close", 2)
        if profile is not None:
            profile.disable()
        controller_cpu = time.process_time() - cpu0

        usage = await worker.get_resource_usage()
    finally:
        worker.close()
        await worker.wait_closed()
    return {
        "phases": phases,
        "controllerCpu": controller_cpu,
        "workerCpu": (usage.ru_utime + usage.ru_stime) / 1000,
    }


# -- Node side --------------------------------------------------------------------------------


def ensure_node_modules(console: Console) -> str:
    """``npm ci --ignore-scripts`` into bench/node on first use; return the node binary."""
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        raise SystemExit("node and npm are needed for the Node side (or pass --python-only)")
    if not (NODE_DIR / "node_modules" / "mediasoup" / "package.json").exists():
        console.print("[bench] installing mediasoup 3.27.1 into bench/node (npm, --ignore-scripts)")
        lock = (NODE_DIR / "package-lock.json").exists()
        cmd = [npm, "ci" if lock else "install", "--ignore-scripts", "--no-audit", "--no-fund"]
        subprocess.run(cmd, cwd=NODE_DIR, check=True, stdout=subprocess.DEVNULL)
    return node


class NodeSide:
    """bench/node/control_plane.mjs kept running: one stdin line per round, one JSON line back."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc

    @classmethod
    async def start(cls, node: str, sc: dict[str, Any], worker_bin: str) -> NodeSide:
        env = dict(os.environ, MEDIASOUP_WORKER_BIN=worker_bin)
        env.setdefault("NODE_NO_WARNINGS", "1")
        proc = await asyncio.create_subprocess_exec(
            node,
            str(NODE_SCRIPT),
            cwd=NODE_DIR,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(sc).encode() + b"\n")
        return cls(proc)

    async def round(self) -> Round:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(b"run\n")
        await self._proc.stdin.drain()
        while True:
            line = await asyncio.wait_for(self._proc.stdout.readline(), 600)
            if not line:
                raise SystemExit(f"Node side exited ({await self._proc.wait()}); see its stderr above")
            if line.startswith(b"{"):
                result: Round = json.loads(line)
                return result

    async def close(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        await self._proc.wait()


async def run_all(
    sc: dict[str, Any], worker_bin: str, node: str | None, profile: cProfile.Profile | None
) -> tuple[list[Round], list[Round] | None]:
    """Interleave the sides round by round (Python, Node, Python, ...): load drift hits both."""
    node_side = await NodeSide.start(node, sc, worker_bin) if node else None
    py: list[Round] = []
    nd: list[Round] = []
    try:
        for r in range(sc["warmup"] + sc["rounds"]):
            measured = r >= sc["warmup"]
            py_round = await python_round(sc, worker_bin, profile if measured else None)
            node_round = await node_side.round() if node_side else None
            if measured:
                py.append(py_round)
                if node_round is not None:
                    nd.append(node_round)
    finally:
        if node_side is not None:
            await node_side.close()
    return py, nd if node_side else None


# -- report -----------------------------------------------------------------------------------


def control_seconds(result: Round) -> float:
    return float(sum(result["phases"][p]["seconds"] for p in PHASES))


def control_requests(result: Round) -> int:
    return int(sum(result["phases"][p]["requests"] for p in PHASES))


def median_round(rounds: list[Round]) -> Round:
    ordered = sorted(rounds, key=control_seconds)
    return ordered[(len(ordered) - 1) // 2]


def ops(requests: float, seconds: float) -> float:
    return requests / seconds if seconds > 0 else 0.0


def report(console: Console, sc: dict[str, Any], py: list[Round], nd: list[Round] | None) -> None:
    py_med = median_round(py)
    nd_med = median_round(nd) if nd else None
    title = (
        f"control plane: {sc['transports']} WebRTC transports, "
        f"{sc['concurrency']} requests in flight, median of {sc['rounds']} rounds"
        f" (+{sc['warmup']} warm-up), interleaved"
    )
    table = Table(title=title)
    table.add_column("phase", no_wrap=True)
    table.add_column("requests", justify="right")
    table.add_column("python ms", justify="right")
    table.add_column("python ops/s", justify="right")
    if nd_med:
        table.add_column("node ms", justify="right")
        table.add_column("node ops/s", justify="right")
        table.add_column("py/node", justify="right")
    for phase in ("worker_start", *PHASES, "total"):
        if phase == "total":
            req: float = control_requests(py_med)
            py_s = control_seconds(py_med)
            nd_s = control_seconds(nd_med) if nd_med else 0.0
        else:
            req = py_med["phases"][phase]["requests"]
            py_s = py_med["phases"][phase]["seconds"]
            nd_s = nd_med["phases"][phase]["seconds"] if nd_med else 0.0
        row = [phase, str(int(req)) if req else "-", f"{py_s * 1000:.1f}"]
        row.append(f"{ops(req, py_s):,.0f}" if req else "-")
        if nd_med:
            row += [f"{nd_s * 1000:.1f}", f"{ops(req, nd_s):,.0f}" if req else "-"]
            row.append(f"{ops(req, py_s) / ops(req, nd_s):.2f}" if req and nd_s else "-")
        table.add_row(*row, end_section=phase in ("worker_start", "close"))
    for label, key in (("controller CPU ms", "controllerCpu"), ("worker CPU ms", "workerCpu")):
        row = [label, "", f"{py_med[key] * 1000:.0f}", ""]
        if nd_med:
            row += [
                f"{nd_med[key] * 1000:.0f}",
                "",
                f"{nd_med[key] / py_med[key]:.2f}" if py_med[key] else "-",
            ]
        table.add_row(*row)
    console.print(table)
    console.print("(CPU rows: py/node column is node CPU / python CPU, > 1 means we use less)")
    cpu_table = Table(title="controller CPU per phase (ms, median rounds)")
    for name in ("phase", "python", *(("node", "node/python") if nd_med else ())):
        cpu_table.add_column(name, justify="left" if name == "phase" else "right")
    for phase in PHASES:
        py_cpu = py_med["phases"][phase].get("cpu", 0.0)
        row = [phase, f"{py_cpu * 1000:.0f}"]
        if nd_med:
            nd_cpu = nd_med["phases"][phase].get("cpu", 0.0)
            row += [f"{nd_cpu * 1000:.0f}", f"{nd_cpu / py_cpu:.2f}" if py_cpu else "-"]
        cpu_table.add_row(*row)
    console.print(cpu_table)

    def spread(rounds: list[Round]) -> str:
        return ", ".join(f"{ops(control_requests(r), control_seconds(r)):,.0f}" for r in rounds)

    console.print(f"python ops/s per round: {spread(py)}")
    if nd:
        console.print(f"node   ops/s per round: {spread(nd)}")
    if nd_med:
        ratio = ops(control_requests(py_med), control_seconds(py_med)) / ops(
            control_requests(nd_med), control_seconds(nd_med)
        )
        # Plain print: the last line must be exactly this, whatever rich would wrap or style.
        print(f"control-plane python/node ratio: {ratio:.2f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--transports", type=int, default=100, help="WebRTC transports (default 100)")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds per side (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="discarded rounds per side (default 1)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (default 16)")
    parser.add_argument("--python-only", action="store_true", help="skip the Node side")
    parser.add_argument("--cprofile", metavar="FILE", help="cProfile the measured Python rounds into FILE")
    args = parser.parse_args(argv)
    if args.transports < 2 or args.rounds < 1 or args.warmup < 0 or args.concurrency < 1:
        parser.error("need --transports >= 2, --rounds >= 1, --warmup >= 0, --concurrency >= 1")

    console = Console(width=None if sys.stdout.isatty() else 100)
    sc = scenario(args.transports, args.rounds, args.warmup, args.concurrency)
    worker_bin = find_worker_bin()
    node = None if args.python_only else ensure_node_modules(console)

    install_event_loop_policy()
    tune_gc()  # as the server runs
    profile = cProfile.Profile() if args.cprofile else None
    loop_name = asyncio.get_event_loop_policy().__class__.__module__.split(".")[0]
    console.print(f"[bench] python ({loop_name}) vs node (mediasoup 3.27.1), worker {worker_bin}")
    py, nd = asyncio.run(run_all(sc, worker_bin, node, profile))
    if profile is not None:
        profile.dump_stats(args.cprofile)
        pstats.Stats(args.cprofile).sort_stats("tottime").print_stats(25)
    report(console, sc, py, nd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
