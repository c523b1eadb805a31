"""coturn's ``turnserver.conf``, written by sfuctl from its settings.

The relay is not an open door: every peer address is denied (loopback and private ranges too),
except the SFU's own media addresses; no multicast peers, no TCP relays (WebRTC relays UDP),
per-user and total allocation quotas, and only ephemeral credentials (``use-auth-secret``).
coturn filters peers by address only, not by port: see the README (TURN) for the firewall rule
that also pins the port range.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from sfuctl.server.turn.settings import TurnSettings

ALL_IPV4 = "0.0.0.0-255.255.255.255"
ALL_IPV6 = "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
WILDCARDS = ("0.0.0.0", "::")


@dataclass(frozen=True)
class TurnServerConfig:
    """Everything coturn is told, as plain data: the settings plus what sfuctl derives."""

    settings: TurnSettings
    peer_addresses: list[str]
    """The only addresses coturn may relay to: the SFU's media addresses."""
    user_quota: int
    total_quota: int
    tls_cert: str | None = None
    tls_key: str | None = None

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None and self.tls_key is not None


def resolve_addresses(names: list[str]) -> list[str]:
    """IP addresses of the given IPs or host names (a name resolves at start-up), deduplicated."""
    found: list[str] = []
    for name in names:
        try:
            found.append(str(ipaddress.ip_address(name)))
            continue
        except ValueError:
            pass
        try:
            infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_UDP)
        except socket.gaierror:
            continue
        found.extend(str(info[4][0]) for info in infos)
    return list(dict.fromkeys(found))


def render(config: TurnServerConfig, state_dir: Path) -> str:
    """The text of turnserver.conf. ``state_dir`` (private to sfuctl) holds its pid file."""
    s = config.settings
    peers = [ipaddress.ip_address(a) for a in config.peer_addresses]
    lines = [
        "# Written by sfuctl at each start; edits are lost. See `sfuctl serve --help` (--turn*).",
        f"listening-port={s.port}",
        f"min-port={s.relay_min_port}",
        f"max-port={s.relay_max_port}",
        f"realm={s.realm}",
        "use-auth-secret",
        f"static-auth-secret={s.secret}",
        "fingerprint",
        "no-cli",
        "no-tcp-relay",
        "no-multicast-peers",
        "no-rfc5780",
        "no-stun-backward-compatibility",
        "no-software-attribute",
        "stale-nonce=600",
        f"user-quota={config.user_quota}",
        f"total-quota={config.total_quota}",
        "log-file=stdout",
        "simple-log",
        f"pidfile={state_dir / 'turnserver.pid'}",
        f"userdb={state_dir / 'turndb'}",
    ]
    if s.listen_ip not in WILDCARDS:
        lines += [f"listening-ip={s.listen_ip}", f"relay-ip={s.listen_ip}"]
    if config.tls:
        lines += [f"tls-listening-port={s.tls_port}", f"cert={config.tls_cert}", f"pkey={config.tls_key}"]
        lines += ["no-dtls", "no-tlsv1", "no-tlsv1_1"]
    else:
        lines += ["no-tls", "no-dtls"]
    if any(peer.is_loopback for peer in peers):
        lines.append("allow-loopback-peers")  # the SFU itself is on loopback (development, tests)
    lines += [f"denied-peer-ip={ALL_IPV4}", f"denied-peer-ip={ALL_IPV6}"]
    lines += [f"allowed-peer-ip={peer}" for peer in peers]
    return "\n".join(lines) + "\n"


def write(config: TurnServerConfig, state_dir: Path) -> Path:
    """Write turnserver.conf (it holds the secret: 0600 in a 0700 directory) and return its path."""
    path = state_dir / "turnserver.conf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(render(config, state_dir))
    return path
