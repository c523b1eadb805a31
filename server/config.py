"""Server settings as plain data; the CLI (flags, env, config file) fills it in."""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass, field
from typing import Any, Literal

import psutil

from sfuctl.server.limits import Limits
from sfuctl.server.media.worker import WorkerSettings
from sfuctl.server.turn.settings import TurnSettings

LoginMode = Literal["open", "apikey", "off"]


def detect_announced_address() -> str:
    """The first non-loopback IPv4 of an interface that is up (what LAN clients can reach)."""
    stats = psutil.net_if_stats()
    for name, addresses in psutil.net_if_addrs().items():
        if name in stats and not stats[name].isup:
            continue
        for address in addresses:
            if address.family == socket.AF_INET and not ipaddress.ip_address(address.address).is_loopback:
                return str(address.address)
    return "127.0.0.1"


@dataclass
class ServerConfig:
    host: str = "0.0.0.0"
    port: int = 3001
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    log_level: str = "info"
    secret: str = ""
    secret_source: str = ""
    limits: Limits = field(default_factory=Limits)
    rtc_listen_ip: str = "0.0.0.0"
    announced_address: str | None = None
    """Address put in ICE candidates (a hostname is allowed); detected when not given."""
    enable_tcp: bool = True
    login_mode: LoginMode = "open"
    api_key: str | None = None
    login_ttl_seconds: int = 6 * 3600
    drain_seconds: float = 10.0
    webrtc_server_port: int | None = None
    """Single-port mode: worker i shares port N+i (UDP, and TCP if enabled) via a WebRtcServer."""
    tls: bool = False
    """HTTPS and WSS on ``port`` (REST, docs, page, WebSocket alike)."""
    tls_cert: str | None = None
    """PEM certificate chain (leaf first); with ``tls_key``. Neither: a generated self-signed one."""
    tls_key: str | None = None
    tls_dir: str | None = None
    """Where the generated certificate is kept (unused with ``tls_cert``); default: the config dir."""
    tls_watch_seconds: float = 10.0
    """How often the certificate files are checked for a renewal (0: only on SIGHUP)."""
    turn: TurnSettings = field(default_factory=TurnSettings)
    webhook_urls: list[str] = field(default_factory=list)
    """Endpoints that receive the signed webhook events (POST, JSON)."""
    webhook_secret: str = ""
    webhook_secret_source: str = ""
    redis: str | None = None
    """Redis URL of the cluster this node joins (``redis://host:6379/0``); None: a single node."""
    node_id: str | None = None
    """This node's id in the cluster; default: generated once into the state dir."""
    public_url: str | None = None
    """Where clients reach this node (``POST /login`` hands it out); default: from host and port."""
    node_address: str | None = None
    """IP address of this node for media between nodes (pipe transports); default: the RTC one."""
    node_ttl_seconds: float = 6.0
    """A node silent this long is dead for the others (bounds how soon its peers are gone)."""
    recordings_dir: str | None = None
    """Where recordings are written; default: ``recordings`` in the state dir (see recording.store)."""

    def media_address(self) -> str | None:
        """What ICE candidates carry: the announced address, else the detected one (wildcard listen)."""
        announced = self.announced_address
        if announced is None and self.rtc_listen_ip in ("0.0.0.0", "::"):
            announced = detect_announced_address()
        return announced

    def transport_options(self) -> dict[str, Any]:
        """WebRtcTransport options for every peer transport."""
        announced = self.media_address()
        infos: list[dict[str, Any]] = [
            {"protocol": "udp", "ip": self.rtc_listen_ip, "announcedAddress": announced}
        ]
        if self.enable_tcp:
            infos.append({"protocol": "tcp", "ip": self.rtc_listen_ip, "announcedAddress": announced})
        return {"listen_infos": infos}
