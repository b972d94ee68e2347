"""CSN's NDCG on hand-computed fixtures: averaged annotators, unannotated urls, ties, the 300-row cap."""

import csv
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hybrid_search.data.annotations import load_qrels
from hybrid_search.data.predictions import read_predictions, write_predictions
from hybrid_search.evaluation import evaluate_ndcg, query_ndcg
from hybrid_search.evaluation.ndcg import dcg, ideal_dcg

# a: 3, b: mean(1, 2) = 1.5, c: 0.  Gains: a 7, b 2**1.5 - 1 = 1.8284271, c 0.
RELEVANCE = {"a": 3.0, "b": 1.5, "c": 0.0}
GAIN_B = 2**1.5 - 1
IDEAL = 7 + GAIN_B / math.log2(3)  # a at rank 1, b at rank 2, c adds nothing


def test_within_skips_unannotated_urls_without_advancing_rank():
    # x is unannotated: Within ranks b 1st and a 2nd.
    assert query_ndcg(["x", "b", "a", "y"], RELEVANCE, within=True) == pytest.approx(
        (GAIN_B + 7 / math.log2(3)) / IDEAL, abs=1e-12
    )


def test_all_counts_unannotated_urls_as_zero_gain_ranks():
    # x takes rank 1, b rank 2, a rank 3.
    assert query_ndcg(["x", "b", "a", "y"], RELEVANCE, within=False) == pytest.approx(
        (GAIN_B / math.log2(3) + 7 / 2) / IDEAL, abs=1e-12
    )


def test_annotated_zero_relevance_url_advances_rank_in_both_variants():
    assert dcg(["c", "a"], RELEVANCE, within=True) == pytest.approx(7 / math.log2(3))
    assert dcg(["c", "a"], RELEVANCE, within=False) == pytest.approx(7 / math.log2(3))


def test_ideal_order_is_perfect_and_ties_do_not_matter():
    assert query_ndcg(["a", "b", "c"], RELEVANCE, within=False) == pytest.approx(1.0)
    tied = {"p": 2.0, "q": 2.0}
    assert query_ndcg(["q", "p"], tied, within=True) == pytest.approx(query_ndcg(["p", "q"], tied, within=True))


def test_query_without_positive_annotation_is_left_out_and_missing_predictions_score_zero():
    qrels = {"good": RELEVANCE, "all zero": {"z": 0.0}, "unanswered": {"a": 2.0}}
    result = evaluate_ndcg({"good": ["a", "b"], "all zero": ["z"]}, qrels)
    assert result["queries"] == 2
    assert result["per_query"]["unanswered"] == {"ndcg_within": 0.0, "ndcg_all": 0.0}
    assert "all zero" not in result["per_query"]
    assert result["ndcg_within"] == pytest.approx((1.0 + 0.0) / 2)


def test_duplicate_annotations_are_averaged_and_queries_lower_cased(tmp_path):
    path = tmp_path / "annotations.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Language", "Query", "GitHubUrl", "Relevance", "Notes"])
        writer.writerows(
            [
                ["Python", "Sort List", "u1", 1, ""],
                ["Python", "Sort List", "u1", 2, ""],
                ["Python", "Sort List", "u2", 3, "n"],
                ["Java", "Sort List", "u3", 3, ""],
                ["Python", "Sort List", "u4", "", "no grade"],
            ]
        )
    assert load_qrels(path) == {"sort list": {"u1": 1.5, "u2": 3.0}}


def test_predictions_file_round_trip_caps_rows_at_300_per_query(tmp_path):
    path = tmp_path / "model_predictions.csv"
    rows = [("Sort List", "python", f"f{i}", f"u{i}") for i in range(301)] + [("other", "go", "g", "u300")]
    write_predictions(path, rows)
    ranked = read_predictions(path)
    assert list(ranked) == ["sort list"] and len(ranked["sort list"]) == 300
    # u300 is relevant but sits at row 301: CSN never reads it.
    assert evaluate_ndcg(ranked, {"sort list": {"u300": 3.0}})["ndcg_within"] == 0.0


def test_missing_column_is_named(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("query,lang,url\nq,python,u\n")
    with pytest.raises(Exception, match="missing column 'language'"):
        read_predictions(path)


def test_shared_annotations_match_the_documented_counts():
    from helpers import SHARED

    qrels = load_qrels(SHARED / "annotationStore.csv")
    assert sum(len(v) for v in qrels.values()) == 989
    assert len({url for v in qrels.values() for url in v}) == 974


@given(
    st.dictionaries(st.sampled_from("abcdefgh"), st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 3.0]), min_size=1),
    st.lists(st.sampled_from("abcdefghxyz"), max_size=12),
)
def test_ndcg_bounds_and_within_dominates_all(relevance, ranking):
    within = query_ndcg(ranking, relevance, within=True)
    full = query_ndcg(ranking, relevance, within=False)
    if ideal_dcg(relevance) == 0:
        assert within is None and full is None
        return
    assert 0.0 <= full <= within
    # Within can exceed 1 only when a url is repeated (CSN does not de-duplicate predictions).
    if len(set(ranking)) == len(ranking):
        assert within <= 1.0 + 1e-12
