"""The request bodies of es/queries.py, built without a cluster: each builder's body as Elasticsearch reads it."""

import json

from hybrid_search.es.mappings import VECTOR_FIELD
from hybrid_search.es.queries import (
    MARK_START,
    baseline_search,
    display_search,
    ids_filter,
    knn_search,
    lexical_search,
    msearch_lines,
    pool_filter,
)

FILTER = [{"term": {"partition": "valid"}}]


def test_baseline_is_csn_best_fields_on_name_subtokens_and_code():
    body = baseline_search("read csv", size=7, source=["url"])
    assert body == {
        "query": {"multi_match": {"query": "read csv", "fields": ["name_subtokens", "code"], "type": "best_fields"}},
        "size": 7,
        "track_total_hits": False,
        "_source": ["url"],
    }


def test_filters_wrap_the_scoring_query_without_scoring():
    plain = baseline_search("x", size=3)
    filtered = baseline_search("x", size=3, filters=FILTER)
    assert filtered["query"] == {"bool": {"must": [plain["query"]], "filter": FILTER}}


def test_lexical_tie_breaker_only_for_best_fields():
    best = lexical_search("x", fields=["func_name^4", "body"], type="best_fields", tie_breaker=0.3, size=5)
    most = lexical_search("x", fields=["func_name^4", "body"], type="most_fields", tie_breaker=0.3, size=5)
    assert best["query"]["multi_match"]["tie_breaker"] == 0.3
    assert "tie_breaker" not in most["query"]["multi_match"] and most["query"]["multi_match"]["type"] == "most_fields"
    assert best["query"]["multi_match"]["fields"] == ["func_name^4", "body"]


def test_lexical_lemma_clause_targets_name_and_body():
    body = lexical_search(
        "reading files", fields=["body"], type="best_fields", size=5, lemmas="read file", lemma_boost=0.5
    )
    main, *variants = body["query"]["bool"]["should"]
    assert variants == [{"multi_match": {"query": "read file", "fields": ["func_name", "body"], "boost": 0.5}}]
    assert main["multi_match"]["query"] == "reading files"


def test_user_text_is_never_query_syntax():
    text = 'a:b* (c OR "d") \\ /e/'
    bodies = [
        baseline_search(text, size=1),
        lexical_search(
            text,
            fields=["code"],
            type="best_fields",
            size=1,
            lemmas=text,
            lemma_boost=1,
            identifiers=(text,),
            identifier_boost=1,
        ),
        display_search(text, doc_ids=["1"], source=True),
    ]
    for body in bodies:
        dumped = json.dumps(body)
        assert "query_string" not in dumped and "simple_query_string" not in dumped
        assert json.dumps(text)[1:-1] in dumped  # passed through verbatim, as text to analyse


def test_knn_depth_never_below_k_and_filters_inside_knn():
    body = knn_search([0.5, 0.25], k=100, num_candidates=40, source=False, filters=FILTER)
    assert body["knn"] == {
        "field": VECTOR_FIELD,
        "k": 100,
        "num_candidates": 100,
        "query_vector": [0.5, 0.25],
        "filter": FILTER,
    }
    assert body["size"] == 100 and body["_source"] is False and "query" not in body
    assert "filter" not in knn_search([1.0], k=5, num_candidates=50)["knn"]


def test_valid_protocol_filters_admit_the_masked_target_only():
    (clause,) = pool_filter(target_id="t1", masked_target_id="masked-t1")
    should = clause["bool"]["should"]
    assert clause["bool"]["minimum_should_match"] == 1
    assert {"ids": {"values": ["masked-t1"]}} in should
    assert {"bool": {"must_not": [{"term": {"masked": True}}, {"ids": {"values": ["t1"]}}]}} in should
    assert ids_filter(["a", "b"]) == [{"ids": {"values": ["a", "b"]}}]


def test_display_keeps_exactly_the_ranked_documents_and_highlights_whole_fields():
    body = display_search("read csv", doc_ids=["a", "b"], source=["url", "code"])
    assert body["query"]["bool"]["filter"] == [{"ids": {"values": ["a", "b"]}}]
    assert body["size"] == 2 and body["_source"] == ["url", "code"]
    assert body["highlight"]["pre_tags"] == [MARK_START] and body["highlight"]["number_of_fragments"] == 0
    assert {"code", "docstring", "func_name"} <= set(body["highlight"]["fields"])


def test_msearch_names_the_index_before_each_body():
    header = {"index": "idx", "allow_partial_search_results": False}
    assert msearch_lines("idx", [{"a": 1}, {"b": 2}]) == [header, {"a": 1}, header, {"b": 2}]
    dfs = {**header, "search_type": "dfs_query_then_fetch"}
    assert msearch_lines("idx", [{"a": 1}], "dfs_query_then_fetch") == [dfs, {"a": 1}]
    knn = {"knn": {"k": 1}}  # ES refuses a search type beside kNN, which has its own
    assert msearch_lines("idx", [{"a": 1}, knn], "dfs_query_then_fetch") == [dfs, {"a": 1}, header, knn]
