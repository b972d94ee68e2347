"""Index layout defaults, a cluster node's settings and the Docker cluster file: pure, no node needed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hybrid_search import HybridError
from hybrid_search.config import EsSettings
from hybrid_search.es.bulk import _short_of_copies
from hybrid_search.es.cluster import ClusterSpec
from hybrid_search.es.layout import DFS, QUERY_THEN_FETCH, IndexLayout, default_layout, search_type_of

REPO = Path(__file__).resolve().parents[1]


def test_one_node_keeps_todays_layout_and_a_cluster_gets_a_replica():
    assert default_layout(data_nodes=1, functions=365_934) == IndexLayout(1, 0, QUERY_THEN_FETCH)
    assert default_layout(data_nodes=3, functions=365_934) == IndexLayout(1, 1, QUERY_THEN_FETCH)
    assert default_layout(data_nodes=3, functions=12_000_000) == IndexLayout(3, 1, DFS)
    assert default_layout(data_nodes=3, functions=10, shards=3, dfs=False).search_type == QUERY_THEN_FETCH


def test_replicas_the_cluster_cannot_place_are_refused():
    with pytest.raises(HybridError, match="1 replicas need 2 data nodes"):
        default_layout(data_nodes=1, functions=10, replicas=1)


def test_a_write_waits_for_two_copies_once_there_are_replicas():
    assert [IndexLayout(replicas=r).active_copies for r in (0, 1, 2)] == [1, 2, 2]
    assert _short_of_copies({"_shards": {"total": 2, "successful": 2, "failed": 0}}, 2) is None
    short = _short_of_copies({"_shards": {"total": 2, "successful": 1, "failed": 1}}, 2)
    assert short == "written to 1 of the 2 shard copies required (1 failed)"


def test_search_type_comes_from_the_index_meta():
    assert search_type_of({"layout": IndexLayout(3, 1, DFS).to_dict()}) == DFS
    assert search_type_of({}) is None


def test_cluster_nodes_find_each_other_on_loopback_and_bootstrap_only_once():
    spec = ClusterSpec(nodes=3, heap="512m", http_port=9200, transport_port=9300)
    node2 = spec.node_settings("node-2")
    assert (node2["http.port"], node2["transport.port"], node2["node.name"]) == ("9201", "9301", "node-2")
    assert node2["discovery.seed_hosts"] == '["127.0.0.1:9300", "127.0.0.1:9301", "127.0.0.1:9302"]'
    assert node2["cluster.initial_master_nodes"] == '["node-1", "node-2", "node-3"]'
    formed = ClusterSpec(nodes=3, heap="512m", formed=True)
    assert "cluster.initial_master_nodes" not in formed.node_settings("node-2")


def test_several_urls_are_each_checked():
    assert EsSettings.from_env("http://a:9200,http://b:9201").urls == ["http://a:9200", "http://b:9201"]
    with pytest.raises(HybridError, match="comma-separated, no spaces"):
        EsSettings.from_env("http://a:9200, http://b:9201")


def test_the_docker_cluster_has_three_nodes_with_the_local_clusters_settings():
    compose = yaml.safe_load((REPO / "docker" / "docker-compose.cluster.yml").read_text())
    services = compose["services"]
    assert sorted(services) == ["es1", "es2", "es3"]
    ports = sorted(service["ports"][0] for service in services.values())
    assert ports == ["127.0.0.1:9200:9200", "127.0.0.1:9201:9200", "127.0.0.1:9202:9200"]
    for service in services.values():
        env = dict(line.split("=", 1) for line in service["environment"])
        assert env["cluster.name"] == "hybrid-search" and env["discovery.seed_hosts"] == "es1,es2,es3"
        assert env["xpack.security.enabled"] == "false" and env["action.auto_create_index"] == "false"
