"""Per-stage diagnostics: relevant functions held by each stage's list."""

from hybrid_search.evaluation.diagnostics import mean_found, relevant_found


def test_relevant_found_counts_only_graded_above_zero():
    relevance = {"a": 3.0, "b": 0.5, "c": 0.0}
    lists = {"lexical": ["a", "c", "x"], "dense": ["b", "a"], "final top 10": []}
    assert relevant_found(lists, relevance) == {"lexical": 1, "dense": 2, "final top 10": 0}


def test_mean_found_treats_a_missing_stage_as_zero():
    assert mean_found([{"lexical": 2, "fused": 1}, {"lexical": 0}]) == {"lexical": 1.0, "fused": 0.5}
    assert mean_found([]) == {}
