"""Mean reciprocal rank, as CodeSearchNet reports it for docstring-as-query retrieval.

CSN ranks each query's own function among 999 distractors (the other functions of its batch of 1,000)
and averages 1/rank. Ranks are 1-based; a target not retrieved scores 0.
"""

from __future__ import annotations

from collections.abc import Iterable


def reciprocal_rank(rank: int | None) -> float:
    return 1.0 / rank if rank else 0.0


def mean_reciprocal_rank(ranks: Iterable[int | None]) -> float:
    values = [reciprocal_rank(rank) for rank in ranks]
    return sum(values) / len(values) if values else 0.0


def recall_at(ranks: Iterable[int | None], k: int) -> float:
    values = [1.0 if rank and rank <= k else 0.0 for rank in ranks]
    return sum(values) / len(values) if values else 0.0
