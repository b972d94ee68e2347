"""Ranking metrics as small pure functions: CSN's NDCG and the MRR of CSN's docstring-as-query protocol."""

from hybrid_search.evaluation.mrr import mean_reciprocal_rank
from hybrid_search.evaluation.ndcg import evaluate_ndcg, query_ndcg

__all__ = ["evaluate_ndcg", "mean_reciprocal_rank", "query_ndcg"]
