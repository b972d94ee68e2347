"""Per-stage diagnostics: how many of a query's relevant annotated functions each retrieval stage still holds.

A relevant function missing from the first-stage lists can never be ranked by fusion or re-ranking; one
present in the candidates but not in the final top 10 was lost by the ordering. Relevant = mean grade > 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def relevant_found(stage_urls: Mapping[str, Sequence[str]], relevance: Mapping[str, float]) -> dict[str, int]:
    """Stage name -> how many of the query's relevant urls that stage's list holds."""
    relevant = {url for url, grade in relevance.items() if grade > 0}
    return {stage: len(relevant & set(urls)) for stage, urls in stage_urls.items()}


def mean_found(per_query: Sequence[Mapping[str, int]]) -> dict[str, float]:
    """Mean of each stage's count over queries (stages missing for a query count as 0)."""
    stages = list(dict.fromkeys(stage for counts in per_query for stage in counts))
    n = len(per_query) or 1
    return {stage: sum(counts.get(stage, 0) for counts in per_query) / n for stage in stages}
