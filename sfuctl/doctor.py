"""`sfuctl doctor` checks: what keeps the appliance from running, and how to fix it.

Nothing here depends on the source tree (the worker is found as the server finds it), so the
checks also run from a packaged binary.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from sfuctl.preflight import http_problem, rtc_ip_problem, single_port_problem, try_bind
from sfuctl.server.auth import AuthError, SecretError, resolve_secret
from sfuctl.server.config import ServerConfig
from sfuctl.server.config_file import (
    ConfigError,
    apply_values,
    check_config,
    find_config_file,
    layered,
    load_file,
)
from sfuctl.server.media.worker_bin import WorkerBinaryNotFound, find_worker_bin
from sfuctl.server.recording import pipeline
from sfuctl.server.recording.store import RecordingStore, recordings_dir
from sfuctl.server.tls.certificate import RENEW_DAYS, CertificateError, check_dates_of, load
from sfuctl.server.tls.setup import certificate_paths
from sfuctl.server.turn.supervisor import TurnStartError, find_turnserver

Status = Literal["ok", "warn", "fail"]
SEE_KEYS = "fix the file; `sfuctl serve --help` lists the keys"
LIBRARY_PACKAGES = "apt-get install libuv1 libsrtp2-1 libssl3 libabsl20220623"
RECORDER_PACKAGES = (
    "apt-get install gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good "
    "gstreamer1.0-plugins-bad ffmpeg"
)


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "fail"


@dataclass
class DoctorOptions:
    port: int | None = None
    rtc_min_port: int | None = None
    rtc_max_port: int | None = None
    """None: from the config file, else the server's default (as `sfuctl serve` would run)."""
    secret_file: str | None = None
    config_file: str | None = None
    start_worker: bool = True
    tls: bool | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_dir: str | None = None
    turn: bool | None = None
    turn_port: int | None = None
    turn_tls_port: int | None = None
    turn_ip: str | None = None
    turn_min_port: int | None = None
    turn_max_port: int | None = None
    extra: list[Callable[[DoctorOptions], Check]] = field(default_factory=list)
    config: ServerConfig = field(default_factory=ServerConfig)
    """What `sfuctl serve` would run with; run_checks settles it from the file, flags and defaults."""
    config_check: Check | None = None
    redis: str | None = None
    """--redis: the cluster's Redis to check; None: from the config file, else no cluster."""


def settle_config(options: DoctorOptions) -> tuple[ServerConfig, Check]:
    """The config serve would build (the same checks, so doctor rejects what serve rejects)."""
    given = {"port": options.port, "worker.rtc_min_port": options.rtc_min_port,
             "worker.rtc_max_port": options.rtc_max_port, "secret_file": options.secret_file,
             "tls": options.tls, "tls_cert": options.tls_cert, "tls_key": options.tls_key,
             "tls_dir": options.tls_dir, "turn.enabled": options.turn, "turn.port": options.turn_port,
             "turn.tls_port": options.turn_tls_port, "turn.listen_ip": options.turn_ip,
             "turn.relay_min_port": options.turn_min_port,
             "turn.relay_max_port": options.turn_max_port}  # fmt: skip
    flags = {key: value for key, value in given.items() if value is not None}
    if options.redis is not None:
        flags["redis"] = options.redis
    try:
        path = find_config_file(options.config_file)
        file_values = load_file(path) if path else {}
        values = layered(file_values, flags)
    except ConfigError as error:  # unreadable: the other checks run on the flags and the defaults
        return apply_values(flags), Check("config file", "fail", str(error), error.hint or SEE_KEYS)
    if options.secret_file is None and "secret_file" in file_values:
        options.secret_file = str(file_values["secret_file"])
    config = apply_values(values)  # the other checks run on it even when the check below fails
    try:
        check_config(config)
    except ConfigError as error:
        return config, Check("config file", "fail", str(error), error.hint or SEE_KEYS)
    if path is None:
        return config, Check("config file", "ok", "no file (defaults, flags and SFUCTL_* only)")
    return config, Check("config file", "ok", f"{path} ({len(file_values)} settings)")


def check_worker_binary(_: DoctorOptions) -> Check:
    try:
        path = find_worker_bin()
    except WorkerBinaryNotFound as error:
        return Check("worker binary", "fail", str(error),
                     "set SFUCTL_WORKER_BIN=/path/to/mediasoup-worker (from source: make setup)")  # fmt: skip
    return Check("worker binary", "ok", path)


def check_shared_libraries(_: DoctorOptions) -> Check:
    try:
        path = find_worker_bin()
    except WorkerBinaryNotFound:
        return Check("shared libraries", "fail", "no worker binary to inspect", "see 'worker binary'")
    ldd = shutil.which("ldd")
    if ldd is None:
        return Check("shared libraries", "warn", "ldd not found: cannot inspect", "apt-get install libc-bin")
    result = subprocess.run([ldd, path], capture_output=True, text=True, timeout=10)
    missing = [line.split()[0] for line in result.stdout.splitlines() if "not found" in line]
    if missing:
        return Check("shared libraries", "fail", "missing: " + ", ".join(missing), LIBRARY_PACKAGES)
    if result.returncode != 0:
        return Check("shared libraries", "warn", (result.stderr or result.stdout).strip()[:200], "")
    return Check("shared libraries", "ok", "all resolved")


def check_worker_starts(options: DoctorOptions) -> Check:
    if not options.start_worker:
        return Check("worker starts", "warn", "skipped (--no-start)")
    from sfuctl.server.media.worker import Worker

    settings = dataclasses.replace(options.config.worker, log_level="error")

    async def start_and_stop() -> int:
        worker = await Worker.start(settings)
        pid = worker.pid
        worker.close()
        await worker.wait_closed()
        return pid

    try:
        pid = asyncio.run(asyncio.wait_for(start_and_stop(), 15))
    except Exception as error:
        return Check("worker starts", "fail", f"{type(error).__name__}: {error}",
                     "fix the checks above; run the binary by hand to see its error")  # fmt: skip
    return Check("worker starts", "ok", f"ran as pid {pid} and exited cleanly")


def check_port(options: DoctorOptions) -> Check:
    config = options.config
    name = f"port {config.port}"
    problem = http_problem(config)
    if problem is not None:
        return Check(name, "fail", problem.message, problem.hint)
    return Check(name, "ok", f"free on {config.host}")


def check_rtc_ip(options: DoctorOptions) -> Check:
    problem = rtc_ip_problem(options.config)
    if problem is not None:
        return Check("RTC address", "fail", problem.message, problem.hint)
    return Check("RTC address", "ok", f"{options.config.rtc_listen_ip} can be bound")


def check_single_port(options: DoctorOptions) -> Check:
    config = options.config
    if config.webrtc_server_port is None:
        return Check("single port", "ok", "not used (one port per transport from the RTC range)")
    problem = single_port_problem(config)
    last = config.webrtc_server_port + config.workers - 1
    if problem is not None:
        return Check("single port", "fail", problem.message, problem.hint)
    return Check("single port", "ok", f"{config.webrtc_server_port}-{last} free")


def check_rtc_ports(options: DoctorOptions) -> Check:
    """Sample the range: a range that is mostly taken leaves transports without ports."""
    low, high = options.config.worker.rtc_min_port, options.config.worker.rtc_max_port
    host = options.config.rtc_listen_ip
    name = f"RTC ports {low}-{high}"
    if rtc_ip_problem(options.config) is not None:
        return Check(name, "warn", "not sampled: the RTC address cannot be bound", "see 'RTC address'")
    if not 1024 <= low <= high <= 65535:
        return Check(
            name, "fail", "not a valid range", "use 1024 <= --rtc-min-port <= --rtc-max-port <= 65535"
        )
    step = max(1, (high - low) // 50)
    sample = list(range(low, high + 1, step))
    busy = [port for port in sample if try_bind(host, port, socket.SOCK_DGRAM) is not None]
    if len(busy) == len(sample):
        return Check(name, "fail", "every sampled UDP port is taken", "choose another range")
    if busy:
        return Check(name, "warn", f"{len(busy)}/{len(sample)} sampled UDP ports taken", "")
    return Check(name, "ok", f"{high - low + 1} ports, sampled {len(sample)} free (UDP)")


def check_secret(options: DoctorOptions) -> Check:
    try:
        secret = resolve_secret(None, options.secret_file)
    except SecretError as error:
        return Check("secret", "fail", str(error), error.hint)
    except AuthError:
        return Check("secret", "warn", "none yet", "`sfuctl serve` creates one on first run")
    return Check("secret", "ok", f"from {secret.source}")


def check_tls(options: DoctorOptions) -> Check:
    """The certificate `sfuctl serve --tls` would serve: subject, names, expiry (warned 30 days ahead)."""
    config = options.config
    name = "TLS certificate"
    cert, key = certificate_paths(config)
    given = bool(config.tls_cert and config.tls_key)
    if not config.tls:
        return Check(name, "ok", "TLS off: plain HTTP (other machines' browsers get no camera or microphone)",
                     "`sfuctl serve --tls` for HTTPS and WSS")  # fmt: skip
    if not given and not (cert.exists() or key.exists()):
        return Check(
            name, "ok", f"none yet: `sfuctl serve --tls` generates a self-signed one in {cert.parent}"
        )
    try:
        info = load(cert, key, check_dates=False)
        check_dates_of(info)
    except CertificateError as error:
        return Check(name, "fail", str(error), error.hint)
    days = int(info.days_left())
    signed = "; self-signed" if info.self_signed else ""
    names = ", ".join(info.names) or "none"
    detail = (
        f"{info.subject}; names: {names}; expires {info.not_after:%Y-%m-%d} ({days} days){signed}; {cert}"
    )
    if days < RENEW_DAYS:
        renew = "renew it (e.g. `certbot renew`): the server loads the new files by itself"
        regenerate = "restart `sfuctl serve --tls`: it makes a new one when 30 days or less are left"
        fix = renew if given else regenerate
        return Check(name, "warn", f"expires in {days} days: " + detail, fix)
    return Check(name, "ok", detail)


def check_turn(options: DoctorOptions) -> Check:
    """--turn needs coturn's turnserver, a free UDP+TCP port and, with TLS, a free turns: port."""
    config = options.config
    turn = config.turn
    if not turn.enabled:
        return Check("TURN server", "ok", "not used (--turn is off)")
    try:
        binary = find_turnserver()
    except TurnStartError as error:
        return Check("TURN server", "fail", str(error), error.hint)
    listeners = [(kind, turn.port, "--turn-port") for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM)]
    if config.tls:
        listeners.append((socket.SOCK_STREAM, turn.tls_port, "--turn-tls-port"))
    for kind, port, flag in listeners:
        problem = bind_problem(turn.listen_ip, port, kind)
        if problem:
            proto = "UDP" if kind == socket.SOCK_DGRAM else "TCP"
            return Check("TURN server", "fail", f"{proto} port {port} on {turn.listen_ip}: {problem}",
                         f"choose another {flag}, or stop what uses it")  # fmt: skip
    tls = f", turns: TCP {turn.tls_port} free" if config.tls else " (no turns: without --tls)"
    relay = f"relay ports {turn.relay_min_port}-{turn.relay_max_port}"
    return Check("TURN server", "ok", f"{binary}; port {turn.port} free (UDP and TCP){tls}; {relay}")


def bind_problem(address: str, port: int, kind: socket.SocketKind) -> str:
    """Why ``address:port`` cannot be bound with ``kind``, or '' when it can."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, kind) as probe:
        try:
            probe.bind((address, port))
        except OSError as error:
            return str(error.strerror or error)
    return ""


def check_recorder(options: DoctorOptions) -> Check:
    """Recording needs gst-launch-1.0 and the pipeline's elements; ffprobe reads the durations."""
    name = "recorder"
    binary = shutil.which(pipeline.GST_LAUNCH)
    inspect = shutil.which("gst-inspect-1.0")
    if binary is None or inspect is None:
        return Check(
            name, "warn", f"{pipeline.GST_LAUNCH} not found: recording is unavailable", RECORDER_PACKAGES
        )
    try:
        missing = [
            element
            for element in pipeline.ELEMENTS
            if subprocess.run([inspect, "--exists", element], capture_output=True, timeout=20).returncode != 0
        ]
    except (OSError, subprocess.TimeoutExpired) as error:
        return Check(name, "warn", f"cannot ask gst-inspect-1.0: {error}", RECORDER_PACKAGES)
    if missing:
        return Check(name, "warn", "GStreamer elements missing: " + ", ".join(missing), RECORDER_PACKAGES)
    directory = recordings_dir(options.config.recordings_dir)
    floor = options.config.limits.recording_min_free_bytes
    try:
        free = RecordingStore(directory).free_bytes()
    except OSError as error:
        return Check(
            name, "warn", f"{directory}: {error.strerror or error}", "give --recordings-dir a writable dir"
        )
    detail = f"{binary}; recordings in {directory} ({free // 1_000_000} MB free)"
    if shutil.which("ffprobe") is None:
        return Check(name, "warn", detail + "; no ffprobe: file durations unknown", "apt-get install ffmpeg")
    if free < floor:
        under = f": under the {floor // 1_000_000} MB floor, recording is refused"
        return Check(
            name, "warn", detail + under, "free space there, or lower --limit recording_min_free_bytes"
        )
    return Check(name, "ok", detail)


REDIS_MIN_VERSION = (6, 2)
"""Oldest Redis the cluster supports (streams, Lua, XADD with MAXLEN ~); tested with 7.0."""


def check_redis(options: DoctorOptions) -> Check:
    """--redis: the server answers, and is a version the cluster supports."""
    url = options.config.redis
    if not url:
        return Check("Redis (cluster)", "ok", "not used (no --redis: a single node)")
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        try:
            info = client.info("server")
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError) as error:
        return Check("Redis (cluster)", "fail", f"{url}: {error}",
                     "start redis-server (Debian: apt-get install redis-server), or fix --redis")  # fmt: skip
    version = str(info.get("redis_version", "0"))
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    if parts < REDIS_MIN_VERSION:
        return Check("Redis (cluster)", "fail", f"{url}: Redis {version}",
                     "the cluster needs Redis 6.2 or later")  # fmt: skip
    return Check("Redis (cluster)", "ok", f"{url}: Redis {version}")


def check_config_file(options: DoctorOptions) -> Check:
    return options.config_check or Check("config file", "warn", "not checked")


CHECKS: list[Callable[[DoctorOptions], Check]] = [
    check_worker_binary,
    check_shared_libraries,
    check_worker_starts,
    check_port,
    check_rtc_ip,
    check_rtc_ports,
    check_single_port,
    check_secret,
    check_tls,
    check_turn,
    check_redis,
    check_recorder,
    check_config_file,
]


def run_checks(options: DoctorOptions) -> list[Check]:
    options.config, options.config_check = settle_config(options)
    return [check(options) for check in [*CHECKS, *options.extra]]
