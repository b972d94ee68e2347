"""Fusion math on small hand-made runs: ties, missing items, an empty run."""

import pytest

from hybrid_search.retrieval.fusion import l2, linear, min_max, ranks, rrf, top, z_score


def test_ranks_break_ties_by_doc_id():
    assert ranks({"b": 1.0, "a": 1.0, "c": 2.0}) == {"c": 1, "a": 2, "b": 3}


def test_rrf_by_hand():
    fused = rrf([{"a": 9, "b": 5}, {"b": 3, "c": 1}], k=60)
    assert fused["a"] == pytest.approx(1 / 61)
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["c"] == pytest.approx(1 / 62)
    assert [d for d, _ in top(fused, 3)] == ["b", "a", "c"]


def test_rrf_weights_and_empty_run():
    assert rrf([{"a": 1.0}, {}], weights=[2.0, 1.0], k=0) == {"a": 2.0}
    assert rrf([{}, {}]) == {}


def test_normalisations():
    assert min_max({"a": 2.0, "b": 4.0, "c": 3.0}) == {"a": 0.0, "b": 1.0, "c": 0.5}
    assert min_max({"a": 5.0}) == {"a": 1.0}
    z = z_score({"a": 1.0, "b": 3.0})
    assert z == {"a": -1.0, "b": 1.0}
    assert l2({"a": 3.0, "b": 4.0}) == {"a": 0.6, "b": 0.8}
    assert z_score({}) == {} and l2({"a": 0.0}) == {"a": 0.0}


def test_linear_gives_missing_documents_the_runs_floor():
    lexical = {"a": 10.0, "b": 5.0, "c": 0.0}
    dense = {"b": 0.9, "d": 0.5}
    fused = linear([lexical, dense], weights=[0.5, 0.5], norm="minmax")
    assert fused["a"] == pytest.approx(0.5 * 1.0 + 0.5 * 0.0)
    assert fused["b"] == pytest.approx(0.5 * 0.5 + 0.5 * 1.0)
    assert fused["d"] == pytest.approx(0.5 * 0.0 + 0.5 * 0.0)
    assert [d for d, _ in top(fused, 2)] == ["b", "a"]


def test_linear_with_one_empty_run_keeps_the_other_order():
    fused = linear([{"a": 2.0, "b": 1.0}, {}], weights=[0.3, 0.7], norm="zscore")
    assert [d for d, _ in top(fused, 2)] == ["a", "b"]
