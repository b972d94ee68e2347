"""The local node's heap on this machine: the user's override, else the policy applied to corpus and memory.

Composed here, one floor above config (the override), data (the corpus size) and es.node (the pure policy),
so es.node reads neither the environment nor the corpus.
"""

from __future__ import annotations

import os
from pathlib import Path

from hybrid_search.config import es_heap_override
from hybrid_search.data.corpus import corpus_bytes
from hybrid_search.es.node import default_heap


def machine_memory_bytes() -> int:
    """Physical memory of this machine."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def local_heap(data_dir: Path | None) -> str:
    """`HYBRID_ES_HEAP` if set, else `default_heap` for the corpus in `data_dir` (None: no corpus known)."""
    if override := es_heap_override():
        return override
    size = corpus_bytes(data_dir) if data_dir is not None else None
    return default_heap(size, machine_memory_bytes())
