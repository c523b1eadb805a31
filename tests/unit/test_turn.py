"""TURN: the credential scheme, the iceServers a peer gets, coturn's config and the checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest

from sfuctl.server.config import ServerConfig
from sfuctl.server.config_file import ConfigError, check_config
from sfuctl.server.turn.config import TurnServerConfig, render
from sfuctl.server.turn.credentials import NO_ICE_SERVERS, ice_servers, managed_urls, mint_credential
from sfuctl.server.turn.settings import TurnSettings

SECRET = "turn-secret-0123456789-abcdefghijklmnopqrstuvwxyz"


def test_credential_is_the_turn_rest_scheme() -> None:
    minted = mint_credential(SECRET, "ada", 600, now=1_700_000_000)
    assert minted.username == "1700000600:ada" and minted.expires == 1_700_000_600
    expected = hmac.new(SECRET.encode(), b"1700000600:ada", hashlib.sha1).digest()
    assert base64.b64decode(minted.credential) == expected
    assert mint_credential("another-secret-0123456789-abcdefghijkl", "ada", 600, 1_700_000_000) != minted


def test_ice_servers_for_a_peer() -> None:
    servers = ice_servers(
        managed_urls("203.0.113.7", 3478, None), ["stun:stun.example.com:3478"], SECRET, 3600
    ).for_user("bob", now=1000)
    assert servers == [
        {
            "urls": ["turn:203.0.113.7:3478?transport=udp", "turn:203.0.113.7:3478?transport=tcp"],
            "username": "4600:bob",
            "credential": mint_credential(SECRET, "bob", 3600, 1000).credential,
        },
        {"urls": ["stun:stun.example.com:3478"]},
    ]
    assert NO_ICE_SERVERS.for_user("bob") == []


def test_managed_urls_with_tls_and_ipv6() -> None:
    assert managed_urls("2001:db8::1", 3478, 5349) == [
        "turn:[2001:db8::1]:3478?transport=udp",
        "turn:[2001:db8::1]:3478?transport=tcp",
        "turns:[2001:db8::1]:5349?transport=tcp",
    ]


def conf(peers: list[str], **settings: object) -> dict[str, list[str]]:
    text = render(TurnServerConfig(TurnSettings(secret=SECRET, **settings), peers, 12, 1000), Path("/run/x"))  # type: ignore[arg-type]
    options: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            options.setdefault(key, []).append(value)
    return options


def test_coturn_denies_every_peer_but_the_sfu() -> None:
    options = conf(["203.0.113.7"])
    assert options["denied-peer-ip"] == [
        "0.0.0.0-255.255.255.255",
        "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ]
    assert options["allowed-peer-ip"] == ["203.0.113.7"]
    assert "allow-loopback-peers" not in options
    for flag in ("no-multicast-peers", "no-cli", "fingerprint", "use-auth-secret", "no-tcp-relay", "no-tls"):
        assert flag in options, flag
    assert options["static-auth-secret"] == [SECRET]
    assert options["user-quota"] == ["12"] and options["total-quota"] == ["1000"]
    assert options["min-port"] == ["50000"] and options["max-port"] == ["50999"]
    assert "listening-ip" not in options  # all interfaces by default


def test_loopback_peers_only_when_the_sfu_is_on_loopback() -> None:
    options = conf(["127.0.0.1"], listen_ip="127.0.0.1")
    assert "allow-loopback-peers" in options and options["allowed-peer-ip"] == ["127.0.0.1"]
    assert options["listening-ip"] == ["127.0.0.1"] and options["relay-ip"] == ["127.0.0.1"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"relay_min_port": 45000, "relay_max_port": 50500}, "overlap the RTC ports"),
        ({"relay_min_port": 60000, "relay_max_port": 50000}, "relay port range"),
        ({"port": 70000}, "turn.port 70000"),
        ({"port": 5349}, "both 5349"),
        ({"listen_ip": "not-an-ip"}, "turn.listen_ip"),
        ({"credential_ttl_seconds": 10}, "under 60"),
        ({"ice_servers": ["http://turn.example.com"]}, "is not a stun:"),
    ],
)
def test_check_config_refuses_bad_turn_settings(settings: dict[str, object], message: str) -> None:
    config = ServerConfig(turn=TurnSettings(enabled=True, **settings))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=message):
        check_config(config)


def test_default_turn_settings_pass_the_checks() -> None:
    check_config(ServerConfig(turn=TurnSettings(enabled=True)))
