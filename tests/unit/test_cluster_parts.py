"""The cluster's small parts: signed messages, its settings and their checks."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from sfuctl.server.cluster.envelope import MAC_BYTES, BadMessage, open_sealed, seal
from sfuctl.server.cluster.link import stream_id
from sfuctl.server.cluster.settings import cluster_key, stored_node_id
from sfuctl.server.config import ServerConfig
from sfuctl.server.config_file import ConfigError, check_config

KEY = cluster_key("test-secret-0123456789-abcdefghijklmnopqrstuvwxyz")


def test_a_sealed_message_opens_with_the_cluster_key_only() -> None:
    raw = seal(KEY, "n1:abc", "event", {"type": "peer-joined", "data": {"userId": "ada"}})
    message = open_sealed(KEY, raw)
    assert (message.sender, message.kind, message.data["data"]) == ("n1:abc", "event", {"userId": "ada"})
    with pytest.raises(BadMessage, match="bad MAC"):
        open_sealed(cluster_key("another-secret-0123456789-abcdefghijklmnopqrstuvwxyz"), raw)
    tampered = raw[:MAC_BYTES] + raw[MAC_BYTES:].replace(b"ada", b"eve")
    with pytest.raises(BadMessage, match="bad MAC"):
        open_sealed(KEY, tampered)
    with pytest.raises(BadMessage):
        open_sealed(KEY, b"short")


def test_an_old_message_is_refused_even_with_a_good_mac() -> None:
    import hashlib
    import hmac

    body = orjson.dumps({"s": "n1:abc", "k": "event", "d": {}, "t": time.time() - 3600})
    with pytest.raises(BadMessage, match="stale"):
        open_sealed(KEY, hmac.new(KEY, body, hashlib.sha256).digest() + body)


def test_the_cluster_key_is_not_the_jwt_secret_and_depends_on_it() -> None:
    assert KEY != b"test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
    assert KEY != cluster_key("test-secret-0123456789-abcdefghijklmnopqrstuvwxyZ")


def test_the_node_id_is_generated_once_into_the_state_dir(tmp_path: Path) -> None:
    first = stored_node_id(tmp_path)
    assert first.startswith("node-") and stored_node_id(tmp_path) == first
    assert (tmp_path / "node-id").read_text().strip() == first


def test_stream_ids_order_by_time_then_sequence() -> None:
    assert stream_id("1700000000000-2") > stream_id("1700000000000-1") > stream_id("1699999999999-9")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("redis", "http://10.0.0.5:6379", "not a redis://"),
        ("node_id", "a:b", "node_id"),
        ("node_address", "0.0.0.0", "node_address"),
        ("node_address", "sfu.example.com", "node_address"),
        ("public_url", "sfu.example.com", "public_url"),
        ("node_ttl_seconds", 0.5, "node_ttl_seconds"),
    ],
)
def test_cluster_settings_are_checked(field: str, value: object, message: str) -> None:
    config = ServerConfig(redis="redis://127.0.0.1:6379/0")
    setattr(config, field, value)
    with pytest.raises(ConfigError, match=message):
        check_config(config)


def test_cluster_settings_are_ignored_without_redis() -> None:
    check_config(ServerConfig(node_address="0.0.0.0"))
    check_config(ServerConfig(redis="redis://127.0.0.1:6379/0", node_id="sfu-1", node_address="10.0.0.11",
                              public_url="https://sfu1.example.com"))  # fmt: skip


def node(name: str, peers: int, cpu: float) -> dict[str, object]:
    return {"node": name, "url": f"http://{name}", "load": {"peers": peers, "cpu": cpu}}


def test_placement_keeps_a_room_on_its_node_until_that_node_is_busy() -> None:
    from sfuctl.server.cluster.views import PLACE_CPU_PERCENT, choose

    nodes = [node("a", 10, 50.0), node("b", 2, 10.0), node("c", 0, 5.0)]
    assert choose(nodes, {"a": 4, "b": 1}) == nodes[0]  # most of the room, though the busiest
    assert choose(nodes, {}) == nodes[2]  # a new room: the least-loaded node
    busy = [node("a", 10, PLACE_CPU_PERCENT), node("b", 2, 10.0), node("c", 0, 5.0)]
    assert choose(busy, {"a": 4, "b": 1}) == busy[1]  # the next node of the room that has room
    assert choose(busy, {"a": 4}) == busy[2]  # none: the room spans onto the least-loaded
    assert choose([], {"a": 1}) is None
