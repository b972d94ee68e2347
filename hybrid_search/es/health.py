"""What the cluster looks like from the API: nodes and roles, heap, an index's health and shard copies.

Used by `hybrid es status` and by the fault checks, which read every copy of every shard on its own
(`preference=_shards:N|_only_nodes:ID`) to prove that no acknowledged write is missing from any copy.
"""

from __future__ import annotations

from collections import Counter

from elasticsearch import Elasticsearch, NotFoundError


def nodes(client: Elasticsearch) -> list[dict]:
    """One row per node: name, roles (ES's letters: m master-eligible, d data ...), elected master, heap."""
    return client.cat.nodes(format="json", h="name,node.role,master,heap.current,heap.max,http_address").body


def describe_cluster(client: Elasticsearch, index: str) -> list[str]:
    """Lines for `hybrid es status`: each node, then the health and shard allocation of `index`."""
    lines = []
    for row in sorted(nodes(client), key=lambda r: r["name"]):
        master = " (elected master)" if row["master"] == "*" else ""
        lines.append(
            f"node:          {row['name']} {row['http_address']} roles {row['node.role']}{master}, "
            f"heap {row['heap.current']} of {row['heap.max']}"
        )
    # Asked first: the health of a missing index is a 408 after the timeout (ES waits for it to appear),
    # which would hide the node lines above behind an error; no index yet is the normal state after `es up`.
    if not client.indices.exists(index=index):
        return [*lines, f"index:         {index} not found (build it with `hybrid index`)"]
    try:
        health = client.cluster.health(index=index, timeout="1s").body
    except NotFoundError:  # deleted in between
        return [*lines, f"index:         {index} not found (build it with `hybrid index`)"]
    lines.append(
        f"index:         {index}: {health['status']}, {health['active_primary_shards']} primaries, "
        f"{health['active_shards']} active copies, {health['unassigned_shards']} unassigned, "
        f"{health['relocating_shards']} relocating, {health['initializing_shards']} initializing"
    )
    for name, count in sorted(shard_copies_per_node(client, index).items()):
        lines.append(f"  {name}: {count} shard copies")
    return lines


def shard_copies_per_node(client: Elasticsearch, index: str) -> Counter:
    """How many started copies of `index`'s shards each node holds."""
    rows = client.cat.shards(index=index, format="json", h="node,state").body
    return Counter(row["node"] for row in rows if row["state"] == "STARTED")


def shard_copies(client: Elasticsearch, index: str) -> list[tuple[int, str, str]]:
    """(shard number, node id, primary or replica) of every started copy of `index`."""
    routing = client.cluster.state(metric="routing_table", index=index).body["routing_table"]["indices"]
    copies = []
    for table in routing.values():
        for number, shard_copies_ in table["shards"].items():
            for copy in shard_copies_:
                if copy["state"] == "STARTED":
                    copies.append((int(number), copy["node"], "primary" if copy["primary"] else "replica"))
    return sorted(copies)


def ids_in_copy(client: Elasticsearch, index: str, shard: int, node_id: str, batch: int = 5000) -> list[str]:
    """Every document id one copy of one shard holds, read from that copy alone (point-in-time free scan
    sorted by `_doc`, through `preference`, so no other copy answers in its place)."""
    ids: list[str] = []
    search_after = None
    preference = f"_shards:{shard}|_only_nodes:{node_id}"
    while True:
        options = {"search_after": search_after} if search_after else {}
        response = client.search(
            index=index,
            preference=preference,
            size=batch,
            source=False,
            sort=["_doc"],
            query={"match_all": {}},
            track_total_hits=False,
            **options,
        ).body
        if response["_shards"]["successful"] != 1:
            raise RuntimeError(f"copy of shard {shard} on {node_id} did not answer: {response['_shards']}")
        hits = response["hits"]["hits"]
        ids += [hit["_id"] for hit in hits]
        if len(hits) < batch:
            return ids
        search_after = hits[-1]["sort"]
