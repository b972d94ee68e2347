"""The valid-partition protocol: query filters, masking of the target, and MRR through the real node."""

from conftest import FUNCTIONS, make_function

from hybrid_search.data.corpus import function_from_record
from hybrid_search.pipeline import valid
from hybrid_search.retrieval.lexical import LexicalRetriever


def functions():
    return [function_from_record(make_function(i, *f, partition="valid")) for i, f in enumerate(FUNCTIONS)]


def test_query_candidates_follow_csn_filters_and_skip_annotated():
    ok = functions()[0]
    short_doc = function_from_record({**make_function(1, "f", "Too short", "a\nb\nc"), "partition": "valid"})
    short_code = function_from_record({**make_function(2, "g", "Long enough docstring", ""), "code": "def g(): pass"})
    assert valid.is_query_candidate(ok, set())
    assert not valid.is_query_candidate(ok, {ok.url})
    assert not valid.is_query_candidate(short_doc, set())
    assert not valid.is_query_candidate(short_code, set())


def test_masked_target_is_found_without_its_docstring(es, index_name):
    pool = functions()
    queries = valid.sample_queries(pool, n=len(pool), seed=1, annotated=set())
    name = valid.build_valid_index(es, index_name, pool, queries, progress=False)
    assert es.count(index=name)["count"] == 2 * len(pool)
    masked = es.get(index=name, id=queries[0].masked_id)["_source"]
    assert masked["docstring"] == "" and queries[0].text not in masked["code"]

    retriever = LexicalRetriever(es, name, source=False)
    search = lambda texts, k, filters: retriever.search_many(texts, k=k, filters=filters)
    result = valid.evaluate_valid(search, queries)
    assert 0.5 < result["mrr_csn"] <= 1.0 and 0.5 < result["mrr_pool"] <= 1.0
    # Each pool search sees exactly one version of its target: the masked copy.
    hits = search([queries[0].text], 100, [valid.pool_filter(queries[0])])[0]
    ids = {h.doc_id for h in hits}
    assert queries[0].target.doc_id not in ids and len(ids & {q.masked_id for q in queries}) <= 1
