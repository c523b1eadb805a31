"""TURN settings as plain data (the ``[turn]`` table of the config file)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TurnSettings:
    enabled: bool = False
    """Run and supervise coturn (``sfuctl serve --turn``)."""
    port: int = 3478
    """UDP and TCP listener of the managed coturn."""
    tls_port: int = 5349
    """TLS listener (``turns:``), only when a TLS certificate and key are configured."""
    listen_ip: str = "0.0.0.0"
    """Address coturn listens on (and relays from, when it is not a wildcard)."""
    relay_min_port: int = 50000
    relay_max_port: int = 50999
    """Relay ports, outside the default RTC range 40000-49999: one per allocation."""
    credential_ttl_seconds: int = 24 * 3600
    """How long a peer's TURN credential stays valid (coturn checks it on every request)."""
    realm: str = "sfuctl"
    ice_servers: list[str] = field(default_factory=list)
    """Your own STUN/TURN servers (``--ice-server URL``): ``turn:``/``turns:`` ones get credentials
    minted from the TURN secret, which must be the ``static-auth-secret`` of that coturn."""
    secret_file: str | None = None
    """File holding the TURN secret (generated on first use).  Default: in the config dir."""
    secret: str = ""
    secret_source: str = ""

    @property
    def needs_secret(self) -> bool:
        """A managed coturn, or an external TURN URL to mint credentials for."""
        return self.enabled or any(url.startswith(("turn:", "turns:")) for url in self.ice_servers)
