"""How an index is laid out on the cluster: shards, replicas, the copies a write waits for, the search type.

The defaults are pure functions of the cluster's data nodes and the corpus size; the layout an index was
built with is kept in its `_meta` (`layout`), which the retrievers read to pick their search type.
Why these defaults: docs/scaling.md (measured NDCG and recall on 1 vs 3 shards, with and without DFS).
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass

from elasticsearch import Elasticsearch

from hybrid_search import HybridError

# A shard per this many functions: 5M functions with 256-d vectors are ~12 GB (2.5 KB a function measured
# on the full corpus, docs/scaling.md), inside Elastic's advice of 10-50 GB a shard. Below it one shard
# ranks as well as several (no per-shard BM25 statistics to reconcile) and answers with one round trip.
FUNCTIONS_PER_SHARD = 5_000_000
QUERY_THEN_FETCH = "query_then_fetch"
DFS = "dfs_query_then_fetch"
SEARCH_TYPES = (QUERY_THEN_FETCH, DFS)


@dataclass(frozen=True)
class IndexLayout:
    """Shards and replicas of a version, and the search type its queries use.

    `search_type` DFS first gathers the term statistics of every shard, so that BM25 scores a multi-shard
    index as it would one shard (a round trip more); with one shard it changes nothing.
    """

    shards: int = 1
    replicas: int = 0
    search_type: str = QUERY_THEN_FETCH

    def __post_init__(self):
        if self.shards < 1 or self.replicas < 0:
            raise HybridError(f"an index needs at least one shard and no negative replicas, not {self}")
        if self.search_type not in SEARCH_TYPES:
            raise HybridError(f"search type must be one of {', '.join(SEARCH_TYPES)}, not {self.search_type!r}")

    @property
    def active_copies(self) -> int:
        """The copies of a shard a bulk write waits for (`wait_for_active_shards`), and the copies each
        acknowledged write must report in its `_shards.successful`: two as soon as there are replicas, so
        that an acknowledged document outlives the loss of any one node; not every replica, so that a node
        lost does not stall writes while the others still hold two copies."""
        return 1 + min(self.replicas, 1)

    def to_dict(self) -> dict:
        return asdict(self)


def default_layout(
    *, data_nodes: int, functions: int, shards: int | None = None, replicas: int | None = None, dfs: bool | None = None
) -> IndexLayout:
    """The layout for `functions` on a cluster of `data_nodes`, with any of shards, replicas, DFS fixed. Pure.

    Shards: one per FUNCTIONS_PER_SHARD functions. Replicas: one when a second data node can hold it (a node
    lost loses no data and keeps serving), none on one node (a replica could never be allocated there).
    Search type: DFS when there is more than one shard (BM25 statistics per shard rank differently).

    Example:
        >>> default_layout(data_nodes=3, functions=365_934)
        IndexLayout(shards=1, replicas=1, search_type='query_then_fetch')
    """
    shards = shards or max(1, math.ceil(functions / FUNCTIONS_PER_SHARD))
    if replicas is None:
        replicas = 1 if data_nodes > 1 else 0
    if replicas > data_nodes - 1:
        raise HybridError(
            f"{replicas} replicas need {replicas + 1} data nodes, the cluster has {data_nodes}: "
            "no node could hold them (a copy never shares a node with another copy of the same shard)"
        )
    if dfs is None:
        dfs = shards > 1
    return IndexLayout(shards=shards, replicas=replicas, search_type=DFS if dfs else QUERY_THEN_FETCH)


def apply_layout(body: dict, layout: IndexLayout) -> dict:
    """A copy of `body` (settings and mappings) with the layout's shards and replicas and its `_meta.layout`."""
    body = copy.deepcopy(body)
    body["settings"]["number_of_shards"] = layout.shards
    body["settings"]["number_of_replicas"] = layout.replicas
    body["mappings"]["_meta"] = {**body["mappings"].get("_meta", {}), "layout": layout.to_dict()}
    return body


def search_type_of(meta: dict) -> str | None:
    """The search type an index was built for (its `_meta.layout`); None (ES's default) for older indices."""
    layout = meta.get("layout") or {}
    return layout.get("search_type")


def data_node_count(client: Elasticsearch) -> int:
    """Data nodes in the cluster now."""
    nodes = client.nodes.info(metric="settings", filter_path="nodes.*.roles")["nodes"]
    return sum(1 for node in nodes.values() if any(role.startswith("data") for role in node.get("roles", [])))
