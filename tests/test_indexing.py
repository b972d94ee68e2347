"""Integration with the real node: versioned builds behind an alias, idempotent re-runs, resume, search."""

import json

import numpy as np
import pytest
from helpers import corpus_actions, make_function, write_jsonl_gz

from hybrid_search import HybridError
from hybrid_search.config import Paths
from hybrid_search.data.corpus import ReadReport, read_corpus
from hybrid_search.data.types import Function
from hybrid_search.es import indexing
from hybrid_search.es.bulk import bulk_load
from hybrid_search.es.documents import source_json
from hybrid_search.es.mappings import index_body, with_vectors
from hybrid_search.pipeline.build import build_index, source_fingerprint
from hybrid_search.retrieval.lexical import BaselineRetriever, LexicalRetriever


def test_build_search_and_alias(es, tiny_data, index_name):
    report = build_index(es, tiny_data, index_name, progress=False)
    assert report.indexed == 6 and report.read.read == 6 and not report.failed
    assert indexing.aliased_index(es, index_name) == report.index
    assert es.count(index=index_name)["count"] == 6
    # The finished load is merged into one segment (one HNSW graph for kNN) before the alias moves.
    segments = es.indices.stats(index=report.index, metric="segments")["_all"]["primaries"]["segments"]["count"]
    assert segments == 1 and report.merge_seconds > 0
    for retriever in (BaselineRetriever(es, index_name), LexicalRetriever(es, index_name)):
        hits = retriever.search("read csv file", k=3).hits
        assert hits[0].func_name == "read_csv_file"
    hits = LexicalRetriever(es, index_name).search("priority queue push", k=1).hits
    assert hits[0].func_name == "PriorityQueue.push"


def test_rebuild_swaps_alias_without_duplicates(es, tiny_data, index_name):
    first = build_index(es, tiny_data, index_name, progress=False)
    unchanged = build_index(es, tiny_data, index_name, progress=False)
    assert unchanged.up_to_date and unchanged.index == first.index and unchanged.indexed == 6
    second = build_index(es, tiny_data, index_name, progress=False, rebuild=True)
    assert second.index != first.index and second.previous == first.index
    assert indexing.aliased_index(es, index_name) == second.index
    assert es.count(index=index_name)["count"] == 6
    assert indexing.versions(es, index_name) == [first.index, second.index]


def test_interrupted_build_is_resumed_into_the_same_index(es, tiny_data, index_name):
    build = source_fingerprint(tiny_data, None)
    partial = indexing.create_version(es, index_name, build)
    functions = list(read_corpus(tiny_data, ReadReport()))[:3]
    bulk_load(es, corpus_actions(functions, partial))  # then the "crash"
    report = build_index(es, tiny_data, index_name, progress=False)
    assert report.resumed and report.index == partial
    assert es.count(index=index_name)["count"] == 6


def test_failed_count_check_leaves_the_old_index_serving(es, tiny_data, index_name):
    good = build_index(es, tiny_data, index_name, progress=False)
    broken = indexing.create_version(es, index_name, {"source": "other"})
    with pytest.raises(HybridError, match="alias .* left unchanged"):
        indexing.finish_version(es, broken, index_name, expected=6)
    assert indexing.aliased_index(es, index_name) == good.index


def test_duplicate_urls_are_indexed_once_and_bad_records_counted(es, tmp_path, index_name):
    record = make_function(1, "only_once", "Appears twice.", "return 1\nreturn 2")
    write_jsonl_gz(tmp_path / "corpus" / "a.jsonl.gz", [record, record], raw_lines=[b"{broken"])
    report = build_index(es, tmp_path, index_name, progress=False)
    assert (report.indexed, report.duplicates, report.read.skipped) == (1, 1, 1)
    assert es.count(index=index_name)["count"] == 1


def test_query_syntax_characters_are_plain_text(es, tiny_data, index_name):
    """Syntax characters mean nothing: the words still find their function, and text without a word finds
    nothing (as query_string syntax, `file:(csv` would be an error, `read~2` fuzzy and `csv^5` a boost)."""
    build_index(es, tiny_data, index_name, progress=False)
    retriever = LexicalRetriever(es, index_name)
    for text in ['"unclosed csv', "read* OR file:(csv", "read~2 csv^5"]:
        assert retriever.search(text, k=5).hits[0].func_name == "read_csv_file", text
    for text in ["\\ / ) ] }", "x" * 10_000, "читать файл ✓"]:
        assert retriever.search(text, k=5).hits == [], text


def test_invalid_alias_names_are_refused():
    for name in ("Upper", "a*", "_system", "a b", "", "name\n"):
        with pytest.raises(HybridError, match="invalid index name"):
            indexing.validate_name(name)


def test_dense_mode_on_an_index_without_vectors_says_how_to_fix_it(es, tiny_data, index_name):
    from hybrid_search.retrieval import make_retriever

    build_index(es, tiny_data, index_name, progress=False)
    with pytest.raises(HybridError, match="has no vectors; build it with `hybrid index --encoder NAME`"):
        make_retriever(es, index_name, "dense", paths=Paths.from_env())


def _functions(n: int) -> list[Function]:
    return [
        Function(
            url=f"https://github.com/acme/tools/blob/x/m{i}.py#L1-L2",
            repo="acme/tools",
            path=f"m{i}.py",
            func_name=f"f{i}",
            code=f"def f{i}():\n    return {i}\n",
        )
        for i in range(n)
    ]


def test_concurrent_bulk_writers_index_every_document_once_with_its_vector(es, index_name):
    functions = _functions(1200)
    vectors = np.random.default_rng(0).standard_normal((len(functions), 8)).astype(np.float32)
    by_url = {f.url: v for f, v in zip(functions, vectors)}
    version = indexing.create_version(es, index_name, {"source": "test"}, with_vectors(index_body(), 8, "fake"))
    actions = corpus_actions(functions, version, encode=lambda batch: [by_url[f.url] for f in batch], chunk=300)
    done = []
    result = bulk_load(es, actions, on_done=done.append, chunk_size=100, writers=3)
    assert result.indexed == 1200 and not result.failed and sum(done) == 1200
    es.indices.refresh(index=version)
    assert es.count(index=version)["count"] == 1200
    for i in (0, 599, 1199):  # each document holds its own vector: it is its own nearest neighbour
        knn = {"field": "embedding", "query_vector": vectors[i].tolist(), "k": 1, "num_candidates": 50}
        top = es.search(index=version, knn=knn, source=["func_name"])["hits"]["hits"][0]
        assert top["_source"]["func_name"] == f"f{i}"


def test_an_error_in_one_bulk_writer_stops_all_and_is_raised(es, index_name):
    version = indexing.create_version(es, index_name, {"source": "test"})

    def actions():
        yield from corpus_actions(_functions(250), version)
        raise HybridError("corpus file broken")  # e.g. --strict meeting a bad record mid-stream

    with pytest.raises(HybridError, match="corpus file broken"):
        bulk_load(es, actions(), chunk_size=50, writers=2)


def test_sources_are_serialised_with_exact_float32_vectors_whatever_the_text():
    vector = np.array([0.1, -1e-8, 3.4e38, 1 / 3], dtype=np.float32)
    for code in ("def f():\n    return 'é'", "lone \ud800 surrogate"):  # orjson refuses the second: json writes it
        source = json.loads(source_json({"code": code, "embedding": vector}))
        assert source["code"] == code
        assert np.array_equal(np.asarray(source["embedding"], dtype=np.float32), vector)
