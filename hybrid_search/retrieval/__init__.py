"""Retrieval modes over the index, behind one contract (`Retriever` in base.py) and one table (modes.py)."""

from __future__ import annotations

import importlib

from elasticsearch import Elasticsearch

from hybrid_search.config import Paths
from hybrid_search.retrieval.base import Hit, OpenedIndex, Ranking, Retriever
from hybrid_search.retrieval.modes import BY_NAME, CODEBASE_DEFAULT_ORDER, DEFAULT_ORDER, MODES, TABLE

__all__ = [
    "MODES",
    "Hit",
    "Ranking",
    "Retriever",
    "available_modes",
    "default_mode",
    "index_default_mode",
    "index_modes",
    "make_retriever",
]


def retriever_class(mode: str) -> type:
    module, name = BY_NAME[mode].retriever.split(":")
    return getattr(importlib.import_module(module), name)


def make_retriever(
    client: Elasticsearch,
    index: str,
    mode: str,
    *,
    paths: Paths,
    source: list[str] | bool = True,
    choices_for: str | None = None,
    reproducible: bool = False,
) -> Retriever:
    """The retriever of `mode` over `index` (an alias), with the choice tuned for that alias or the defaults.

    `choices_for`: the alias whose tuned choices apply instead, for an evaluation index searched as that
    alias would be (the real-query index of `hybrid eval`).
    `reproducible`: rankings that depend only on the index and the query, whatever was searched before
    (for evaluation). Only rerank needs it: its cached int8 vectors otherwise depend on their batch.
    """
    from hybrid_search.es.indexing import index_meta
    from hybrid_search.retrieval.codebase import CodebaseParams, CodebaseRanked, is_codebase

    meta = index_meta(client, index)
    if is_codebase(meta) and isinstance(source, list):  # the arrangement reads each unit's file and line
        source = sorted({*source, "path", "start_line"})
    opened = OpenedIndex(client, index, meta, paths, source, choices_for)
    retriever = retriever_class(mode).from_index(opened)
    if is_codebase(meta) and retriever.ranks_codebases:
        retriever = CodebaseRanked(retriever, CodebaseParams())
    return retriever.reproducible() if reproducible else retriever


def index_modes(client: Elasticsearch, index: str, *, paths: Paths) -> tuple[list[str], bool]:
    """(every mode the index supports, in the table's order: some need vectors, rerank also its re-ranker;
    whether it is a codebase, whose default mode differs), from one read of its `_meta`."""
    from hybrid_search.es.indexing import index_meta
    from hybrid_search.retrieval.codebase import is_codebase

    meta = index_meta(client, index)
    has_vectors = "encoder" in meta
    modes = [
        mode.name
        for mode in TABLE
        if (has_vectors or not mode.needs_vectors)
        and (not mode.needs_reranker or retriever_class(mode.name).available(index, paths=paths))
    ]
    return modes, is_codebase(meta)


def available_modes(client: Elasticsearch, index: str, *, paths: Paths) -> list[str]:
    return index_modes(client, index, paths=paths)[0]


def default_mode(modes: list[str], *, codebase: bool = False) -> str:
    """The first of the default order that `modes` holds (a codebase index has its own order)."""
    order = CODEBASE_DEFAULT_ORDER if codebase else DEFAULT_ORDER
    return next(m for m in order if m in modes)


def index_default_mode(client: Elasticsearch, index: str, *, paths: Paths) -> str:
    """The mode a search of `index` runs when none is asked for."""
    modes, codebase = index_modes(client, index, paths=paths)
    return default_mode(modes, codebase=codebase)
