"""Exact dense ranks against a brute-force oracle."""

import numpy as np

from hybrid_search.evaluation.dense import csn_mrr, target_ranks
from hybrid_search.retrieval.exact import top_k


def test_target_ranks_and_top_k_match_brute_force():
    rng = np.random.default_rng(0)
    queries, pool = rng.normal(size=(7, 5)), rng.normal(size=(40, 5))
    targets = rng.integers(0, 40, size=7)
    scores = queries @ pool.T
    expected = [1 + int((scores[i] > scores[i, t]).sum()) for i, t in enumerate(targets)]
    assert target_ranks(queries, pool, targets, chunk=3).tolist() == expected
    assert top_k(queries, pool, 5, chunk=2).tolist() == np.argsort(-scores, axis=1)[:, :5].tolist()


def test_csn_mrr_batches():
    identity = np.eye(4)
    assert csn_mrr(identity, identity, batch=2) == 1.0
    # Query 0 prefers code 1 in its batch of two: rank 2 for it, rank 1 for query 1.
    queries = np.array([[0.0, 1.0], [0.0, 1.0]])
    codes = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert csn_mrr(queries, codes) == (0.5 + 1.0) / 2


def test_a_stand_in_takes_the_targets_place_for_its_own_query_only():
    queries = np.array([[1.0, 0.0], [0.0, 1.0]])
    pool = np.array([[1.0, 0.0], [0.8, 0.2], [0.0, 1.0]])  # the intact target 0 matches query 0 best
    stand_ins = np.array([[0.5, 0.5], [0.0, 1.0]])  # ... but without its docstring it scores 0.5
    ranks = target_ranks(queries, pool, np.array([0, 2]), stand_ins=stand_ins)
    assert ranks.tolist() == [2, 1]  # behind pool row 1 (0.8); the intact copy itself no longer competes
    assert target_ranks(queries, pool, np.array([0, 2])).tolist() == [1, 1]
