"""The valid-partition protocol: masking of the target, and MRR through the real node."""

from helpers import FUNCTIONS, make_function

from hybrid_search.data.corpus import function_from_record
from hybrid_search.pipeline import valid
from hybrid_search.retrieval.lexical import LexicalRetriever


def functions():
    return [function_from_record(make_function(i, *f, partition="valid")) for i, f in enumerate(FUNCTIONS)]


def test_sampling_is_seeded_and_skips_annotated():
    pool = functions()
    first = valid.sample_queries(pool, n=3, seed=5, annotated={pool[0].url})
    assert [q.function.url for q in first] == [q.function.url for q in valid.sample_queries(pool, 3, 5, {pool[0].url})]
    assert pool[0].url not in {q.function.url for q in valid.sample_queries(pool, 10, 5, {pool[0].url})}


def test_masked_target_is_found_without_its_docstring(es, index_name):
    pool = functions()
    queries = valid.sample_queries(pool, n=len(pool), seed=1, annotated=set())
    name = valid.build_valid_index(es, index_name, pool, queries, progress=False)
    assert es.count(index=name)["count"] == 2 * len(pool)
    masked = es.get(index=name, id=valid.masked_id(queries[0]))["_source"]
    assert masked["docstring"] == "" and queries[0].query not in masked["code"]

    retriever = LexicalRetriever(es, name, source=False)

    def search(texts, k, filters):
        return retriever.search_many(texts, k=k, filters=filters)

    result = valid.evaluate_valid(search, queries)
    assert 0.5 < result["mrr_csn"] <= 1.0 and 0.5 < result["mrr_pool"] <= 1.0
    # Each pool search sees exactly one version of its target: the masked copy.
    ids = {h.doc_id for h in search([queries[0].query], 100, [valid.pool_filter(queries[0])])[0].hits}
    assert queries[0].function.doc_id not in ids
    assert ids & {valid.masked_id(q) for q in queries} <= {valid.masked_id(queries[0])}
