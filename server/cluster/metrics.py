"""This node's part of the cluster on ``/metrics``: each node is scraped on its own, and
``sfuctl_cluster_node_info`` names it (join on it to tell nodes apart)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from prometheus_client.core import Metric

    from sfuctl.server.cluster.cluster import Cluster


class ClusterCollector(Collector):
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def collect(self) -> Iterator[Metric]:
        cluster = self.cluster
        info = GaugeMetricFamily(
            "sfuctl_cluster_node_info", "This node in its cluster.", labels=["node", "epoch"]
        )
        info.add_metric([cluster.settings.node_id, cluster.settings.epoch], 1)
        yield info
        yield GaugeMetricFamily(
            "sfuctl_cluster_redis_up", "1 while Redis answers.", value=int(cluster.available)
        )
        yield GaugeMetricFamily(
            "sfuctl_cluster_remote_peers",
            "Peers on other nodes of the rooms on this node.",
            value=sum(len(link.remote_peer_map) for link in cluster.links.values()),
        )
        counts = cluster.pipe_counts()
        yield GaugeMetricFamily(
            "sfuctl_cluster_pipe_transports", "Pipe transports to and from other nodes.",
            value=counts["pipeTransports"],
        )  # fmt: skip
        yield GaugeMetricFamily(
            "sfuctl_cluster_piped_in", "Producers of other nodes piped in.", value=counts["pipedIn"]
        )
        yield GaugeMetricFamily(
            "sfuctl_cluster_piped_out", "Producers of this node piped out.", value=counts["pipedOut"]
        )
        yield CounterMetricFamily(
            "sfuctl_cluster_redis_round_trips", "Redis round trips (a pipeline is one).",
            value=cluster.round_trips,
        )  # fmt: skip
