"""The benchmark harness (benchmarks/, beside the package) on the tiny corpus against the real node: every figure
present and sane."""

import shutil
import time

import numpy as np
import pytest
from elasticsearch import NotFoundError
from helpers import make_function, write_jsonl_gz

from benchmarks import BenchConfig, markdown, run_bench
from benchmarks.harness import encode_alone, recall_at
from benchmarks.sample import in_sample
from hybrid_search.evaluation.stats import latency_percentiles


def test_samples_are_nested_and_deterministic():
    ids = [f"{i:08x}" + "0" * 32 for i in range(0, 2**32, 2**32 // 1000)]
    quarter = {d for d in ids if in_sample(d, 0.25)}
    half = {d for d in ids if in_sample(d, 0.5)}
    assert quarter < half < set(ids) and abs(len(quarter) - 250) <= 2 and abs(len(half) - 500) <= 2
    assert all(in_sample(d, 1.0) for d in ids)


def test_percentiles_and_recall():
    stats = latency_percentiles(list(range(1, 101)))  # the one p50/p95/p99 of eval, bench and page
    assert stats["p50"] == 50.5 and 95 <= stats["p95"] <= 96 and 99 <= stats["p99"] <= 100
    assert recall_at([["a", "b", "x"]], [["a", "b", "c"]], 2) == 1.0
    assert recall_at([["a", "b", "x"]], [["a", "b", "c"]], 3) == round(2 / 3, 4)


class SlowFunctionsEncoder:
    """Encoding functions takes 10 ms a batch; encoding a query would fail the test."""

    name, path, dims = "slow", None, 2

    def encode_functions(self, functions):
        time.sleep(0.01)
        return np.ones((len(functions), self.dims))

    def encode_queries(self, texts):
        raise AssertionError("the encoding figure times functions only")


def test_encoding_alone_times_function_encoding_only():
    vectors, seconds = encode_alone(SlowFunctionsEncoder(), list(range(1000)), batch=512)
    assert vectors.shape == (1000, 2) and vectors.dtype == np.float32
    assert seconds >= 0.02  # two batches of 10 ms, and no query encoded


def larger_pool(tiny_data, folder):
    """The tiny corpus plus three functions (1.5x), with the same queries and judgements."""
    shutil.copytree(tiny_data, folder)
    extra = [make_function(10 + i, f"extra_{i}", "Something else.", f"return {i}") for i in range(3)]
    write_jsonl_gz(folder / "corpus" / "functions-002.jsonl.gz", extra)
    return folder


def test_bench_on_the_tiny_corpus(es, tiny_data, trained, index_name, paths, tmp_path):
    _, _, _, model_dir = trained
    config = BenchConfig(
        prefix=index_name,
        fractions=(0.5, 1.0),
        valid_queries=0,
        modes=("lexical", "dense", "hybrid"),
        encoder=str(model_dir),
        larger_pool=str(larger_pool(tiny_data, tmp_path / "larger")),
    )
    results = run_bench(es, tiny_data, config, paths=paths, echo=lambda *_: None)
    small, full, larger = results["scales"]
    assert larger["fraction"] == 1.5 and larger["functions"] == 9 and larger["build_vectors"]["indexed"] == 9
    assert larger["ndcg"]["lexical"]["within"] > 0  # the same queries, judged on the larger pool
    per_function = full["memory_per_function"]
    assert per_function["index_bytes"] == round(full["build_vectors"]["size_bytes"] / 6) > 0
    assert per_function["heap_used_bytes"] > 0
    assert full["functions"] == 6 and small["functions"] <= full["functions"]
    assert full["build_vectors"]["indexed"] == 6 and full["build_text"]["indexed"] == 6
    assert (
        full["build_vectors"]["size_bytes"] > full["build_text"]["size_bytes"] > 0 and full["memory"]["heap_max_mb"] > 0
    )
    assert set(full["latency_ms"]) == {"lexical", "dense", "hybrid", "exact numpy", "bm25s", "round trip"}
    assert all(v["p50"] > 0 for v in full["latency_ms"].values())
    assert "round trip" not in full["ndcg"]  # it ranks nothing: a floor, not a system
    assert set(full["took_ms"]) == {"lexical", "dense", "hybrid"}  # ES `took` of each ranking
    assert all(v["p50"] <= full["latency_ms"][m]["p50"] for m, v in full["took_ms"].items())
    assert full["hnsw_recall"]["@10"] == 1.0  # six vectors: HNSW finds them all
    # Every annotated function is in both samples, so the same queries are scored at both scales.
    assert full["ndcg"]["lexical"]["within"] > 0 and small["ndcg"]["lexical"]["within"] > 0
    assert np.isfinite(full["ratios"]["dense_p50 / exact_numpy_p50"])
    assert all(q > 0 for qps in full["qps"].values() for q in qps.values())
    assert not es.indices.get(index=f"{index_name}*", expand_wildcards="all")  # the harness removes its indices
    table = markdown(results)
    assert "| bm25s |" in table and "HNSW recall@100" in table and "50% (" in table and "150% (9 fn)" in table
    assert "bytes per function: index on disk" in table


def test_the_bm25s_peer_ranks_the_k_best_matching_documents_only():
    from benchmarks.peers import top_matches

    scores = np.zeros(1000, dtype=np.float32)
    scores[[5, 700, 42, 999]] = [0.5, 2.0, 1.0, 3.0]
    docs, best = top_matches(scores, 3)
    assert list(docs) == [999, 700, 42] and list(best) == [3.0, 2.0, 1.0]
    assert list(top_matches(scores, 10)[0]) == [999, 700, 42, 5]  # documents that match nothing never rank
    assert len(top_matches(np.zeros(10, dtype=np.float32), 5)[0]) == 0


def test_the_round_trip_peer_reaches_es_and_finds_nothing(es, tiny_data, index_name):
    from benchmarks.peers import RoundTrip
    from hybrid_search.pipeline.build import build_index

    build_index(es, tiny_data, index_name, progress=False)
    ranking = RoundTrip(es, index_name).search("read a csv file", k=10)
    assert ranking.hits == [] and ranking.wall_ms > 0 and 0 <= ranking.es_ms <= ranking.wall_ms
    with pytest.raises(NotFoundError):
        RoundTrip(es, index_name + "-missing").search("read a csv file")  # a real request, not a stub
