"""What the run happened on: the machine, the node's memory, and the size of an index."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from elasticsearch import Elasticsearch


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in _lines("/proc/cpuinfo") if "model name" in line), "?")
    mem_kb = next((int(line.split()[1]) for line in _lines("/proc/meminfo") if line.startswith("MemTotal")), 0)
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
    }


def node_memory(client: Elasticsearch) -> dict:
    """Heap setting and use from the node's stats; resident memory of the process from /proc when local."""
    from hybrid_search.config import home_dir
    from hybrid_search.es.node import NodePaths, running_pid

    stats = client.nodes.stats(metric="jvm,process")
    heap = next(iter(stats["nodes"].values()))["jvm"]["mem"]
    pid = running_pid(NodePaths(home_dir()))  # the local node `hybrid es up` started, if that is the one
    status = _lines(f"/proc/{pid}/status") if pid else []
    rss_kb = next((int(line.split()[1]) for line in status if line.startswith("VmRSS")), 0)
    return {
        "heap_max_mb": round(heap["heap_max_in_bytes"] / 2**20),
        "heap_used_mb": round(heap["heap_used_in_bytes"] / 2**20),
        "rss_mb": round(rss_kb / 1024) if pid else None,
    }


def index_size_bytes(client: Elasticsearch, index: str) -> int:
    client.indices.refresh(index=index)
    stats = client.indices.stats(index=index, metric="store")
    return stats["_all"]["primaries"]["store"]["size_in_bytes"]


def _lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []
