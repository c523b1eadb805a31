"""The cluster side of a node's settings, derived once from ServerConfig."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from sfuctl.server.config import ServerConfig
from sfuctl.server.turn.config import WILDCARDS

NODE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
NODE_ID_FILE = "node-id"


@dataclass(frozen=True)
class ClusterSettings:
    redis_url: str
    node_id: str
    epoch: str
    """This process's incarnation: a node that restarts is a new epoch, its old state is not its own."""
    public_url: str
    node_address: str
    """The IP pipe transports of this node listen on, and other nodes send media to."""
    key: bytes
    """HMAC key of node-to-node messages, derived from the shared JWT secret."""
    ttl: float
    """Every key a node writes expires this long after its last heartbeat."""

    @property
    def member(self) -> str:
        """This node incarnation's name in Redis: ``node:epoch``."""
        return f"{self.node_id}:{self.epoch}"

    @property
    def heartbeat(self) -> float:
        return self.ttl / 3


def cluster_key(secret: str) -> bytes:
    """A key of its own for node-to-node messages (a leaked message key does not mint tokens)."""
    return hmac.new(secret.encode(), b"sfuctl cluster messages v1", hashlib.sha256).digest()


def state_dir() -> Path:
    return Path(os.environ.get("SFUCTL_STATE_DIR") or platformdirs.user_state_dir("sfuctl"))


def stored_node_id(directory: Path | None = None) -> str:
    """The node id kept in the state dir, generated there on first use."""
    path = (directory or state_dir()) / NODE_ID_FILE
    try:
        found = path.read_text().strip()
    except FileNotFoundError:
        found = ""
    if NODE_ID.fullmatch(found):
        return found
    node_id = f"node-{secrets.token_hex(4)}"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(node_id + "\n")
    return node_id


def node_address(config: ServerConfig) -> str:
    if config.node_address:
        return config.node_address
    if config.rtc_listen_ip not in WILDCARDS:
        return config.rtc_listen_ip
    return config.media_address() or "127.0.0.1"


def public_url(config: ServerConfig) -> str:
    if config.public_url:
        return config.public_url.rstrip("/")
    host = config.host if config.host not in WILDCARDS else (config.media_address() or "127.0.0.1")
    if ":" in host:
        host = f"[{host}]"
    return f"{'https' if config.tls else 'http'}://{host}:{config.port}"


def cluster_settings(config: ServerConfig) -> ClusterSettings:
    assert config.redis is not None
    return ClusterSettings(
        redis_url=config.redis,
        node_id=config.node_id or stored_node_id(),
        epoch=secrets.token_hex(6),
        public_url=public_url(config),
        node_address=node_address(config),
        key=cluster_key(config.secret),
        ttl=config.node_ttl_seconds,
    )
