"""Ephemeral TURN credentials (the TURN REST scheme, coturn's ``use-auth-secret``) and the
``iceServers`` list a peer gets in its ``join-room`` answer.

Username ``<expiry>:<userId>``, credential base64(HMAC-SHA1(secret, username)): coturn recomputes
the credential from its ``static-auth-secret`` and refuses an expired username, so nothing is
stored per peer and a leaked credential dies with its TTL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TurnCredential:
    username: str
    credential: str
    expires: int


def mint_credential(secret: str, user_id: str, ttl_seconds: int, now: float | None = None) -> TurnCredential:
    expires = int(now if now is not None else time.time()) + ttl_seconds
    username = f"{expires}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return TurnCredential(username, base64.b64encode(digest).decode(), expires)


def url_host(host: str) -> str:
    """IPv6 addresses go in brackets in a TURN URI (RFC 7065)."""
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host


def managed_urls(host: str, port: int, tls_port: int | None) -> list[str]:
    """The URLs of the managed coturn: UDP and TCP on ``port``, TLS when there is a certificate."""
    where = url_host(host)
    urls = [f"turn:{where}:{port}?transport=udp", f"turn:{where}:{port}?transport=tcp"]
    if tls_port is not None:
        urls.append(f"turns:{where}:{tls_port}?transport=tcp")
    return urls


@dataclass(frozen=True)
class IceServers:
    """What every peer is told: TURN URLs (with per-peer credentials) and plain STUN URLs."""

    turn_urls: list[str]
    stun_urls: list[str]
    secret: str
    ttl_seconds: int

    def for_user(self, user_id: str, now: float | None = None) -> list[dict[str, Any]]:
        """W3C RTCIceServer dicts; ``[]`` when there is no STUN/TURN server."""
        servers: list[dict[str, Any]] = []
        if self.turn_urls and self.secret:
            minted = mint_credential(self.secret, user_id, self.ttl_seconds, now)
            servers.append(
                {"urls": list(self.turn_urls), "username": minted.username, "credential": minted.credential}
            )
        if self.stun_urls:
            servers.append({"urls": list(self.stun_urls)})
        return servers


NO_ICE_SERVERS = IceServers([], [], "", 0)


def ice_servers(managed: list[str], external: list[str], secret: str, ttl_seconds: int) -> IceServers:
    """Managed URLs first, then the user's own (``--ice-server``), split by scheme."""
    turn = [url for url in [*managed, *external] if url.startswith(("turn:", "turns:"))]
    stun = [url for url in external if url.startswith(("stun:", "stuns:"))]
    return IceServers(turn, stun, secret, ttl_seconds)
