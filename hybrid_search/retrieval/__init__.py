"""Retrieval modes over the index, behind one contract (`Retriever` in base.py) and a registry by mode name."""

from __future__ import annotations

import importlib

from elasticsearch import Elasticsearch

from hybrid_search.config import Paths
from hybrid_search.retrieval.base import MODES, Hit, OpenedIndex, Ranking, Retriever

__all__ = ["MODES", "Hit", "Ranking", "Retriever", "available_modes", "default_mode", "make_retriever"]

# The default mode where none is asked for (CLI and page alike): hybrid has the best NDCG per millisecond
# (rerank adds ~0.01 NDCG Within for ~10x the latency), then the modes that need no vectors.
DEFAULT_MODE_ORDER = ("hybrid", "lexical", "baseline", "dense", "rerank")

# mode -> "module:class"; classes are imported on demand (dense modes pull in torch).
REGISTRY = {
    "baseline": "hybrid_search.retrieval.lexical:BaselineRetriever",
    "lexical": "hybrid_search.retrieval.lexical:LexicalRetriever",
    "dense": "hybrid_search.retrieval.dense:DenseRetriever",
    "hybrid": "hybrid_search.retrieval.hybrid:HybridRetriever",
    "rerank": "hybrid_search.retrieval.rerank:RerankRetriever",
}


def retriever_class(mode: str) -> type:
    module, name = REGISTRY[mode].split(":")
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
    if is_codebase(meta) and getattr(retriever, "ranks_codebases", True):
        retriever = CodebaseRanked(retriever, CodebaseParams())
    return retriever.reproducible() if reproducible and mode == "rerank" else retriever


def available_modes(client: Elasticsearch, index: str, *, paths: Paths) -> list[str]:
    """Every mode the index supports: dense and hybrid need vectors; rerank also needs its re-ranker."""
    from hybrid_search.es.indexing import index_meta

    has_vectors = "encoder" in index_meta(client, index)
    modes = ["baseline", "lexical"]
    if has_vectors:
        modes += ["dense", "hybrid"]
        if retriever_class("rerank").available(index, paths=paths):
            modes.append("rerank")
    return modes


def default_mode(modes: list[str]) -> str:
    return next(m for m in DEFAULT_MODE_ORDER if m in modes)
