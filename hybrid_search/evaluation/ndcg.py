"""NDCG exactly as CodeSearchNet's `relevanceeval.py` computes it.

Reference: github/CodeSearchNet src/relevanceeval.py (`ndcg`, `load_relevances`, `load_predictions`).
- relevance of (query, url) = mean over annotators; gain = 2**rel - 1; discount = log2(rank + 1)
- ideal DCG from all annotated urls of the query, sorted by relevance
- "Within" (CSN's default) skips unannotated urls without advancing the rank; "All" ("full ranking")
  counts them as zero-gain ranks
- queries with an ideal DCG of 0 are left out; a query with no predictions scores 0
- the reported value is the mean over queries

ranx is not used: it takes integer relevance (CSN's are means such as 1.5) and has no "Within" variant.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def dcg(ranked_urls: Sequence[str], relevance: Mapping[str, float], within: bool) -> float:
    """Discounted cumulative gain of a ranked list; urls absent from `relevance` are skipped (within) or zero-gain."""
    total, rank = 0.0, 1
    for url in ranked_urls:
        if url in relevance:
            total += (2 ** relevance[url] - 1) / math.log2(rank + 1)
            rank += 1
        elif not within:
            rank += 1
    return total


def ideal_dcg(relevance: Mapping[str, float]) -> float:
    ordered = sorted(relevance.values(), reverse=True)
    return sum((2**rel - 1) / math.log2(i + 1) for i, rel in enumerate(ordered, start=1))


def query_ndcg(ranked_urls: Sequence[str], relevance: Mapping[str, float], within: bool) -> float | None:
    """NDCG of one query; None when the query has no positive annotation (CSN skips it)."""
    ideal = ideal_dcg(relevance)
    if ideal == 0:
        return None
    return dcg(ranked_urls, relevance, within) / ideal


def evaluate_ndcg(predictions: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, float]]) -> dict:
    """Mean NDCG Within and All over the annotated queries, plus per-query values and coverage.

    `predictions` and `qrels` are keyed by the lower-cased query text, as CSN keys them.
    Returns {"ndcg_within", "ndcg_all", "per_query": {query: {"ndcg_within", "ndcg_all"}},
    "queries", "queries_predicted", "coverage"}.
    """
    per_query: dict[str, dict[str, float]] = {}
    annotated = covered = 0
    for query, relevance in qrels.items():
        ranked = predictions.get(query, [])
        within = query_ndcg(ranked, relevance, within=True)
        if within is None:
            continue
        per_query[query] = {"ndcg_within": within, "ndcg_all": query_ndcg(ranked, relevance, within=False)}
        seen = set(ranked)
        annotated += len(relevance)
        covered += sum(url in seen for url in relevance)
    n = len(per_query)
    return {
        "ndcg_within": sum(v["ndcg_within"] for v in per_query.values()) / n if n else 0.0,
        "ndcg_all": sum(v["ndcg_all"] for v in per_query.values()) / n if n else 0.0,
        "queries": n,
        "queries_predicted": sum(1 for q in per_query if predictions.get(q)),
        "coverage": covered / annotated if annotated else 0.0,
        "per_query": per_query,
    }
