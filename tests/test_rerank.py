"""Mode rerank with the real all-MiniLM-L6-v2 (from its PyPI package): re-scoring and the embedding cache."""

import numpy as np
import pytest

from hybrid_search.encoder.resolve import load_reranker
from hybrid_search.retrieval.base import Hit
from hybrid_search.retrieval.rerank import EmbeddingCache, Reranker, rerank


def hit(doc_id, name, code, score):
    return Hit(doc_id, f"https://x/{doc_id}", score, {"func_name": name, "code": code, "repo": "r", "path": "p.py"})


@pytest.fixture(scope="module")
def reranker(tmp_path_factory):
    return Reranker(load_reranker("minilm", models=tmp_path_factory.mktemp("models")), tmp_path_factory.mktemp("cache"))


def rescore(reranker, text, hits, weight):
    """The hits re-ranked as the retriever does it: `rerank` over the re-ranker's similarities."""
    by_id = {h.doc_id: h for h in hits}
    ranked = rerank(
        [(h.doc_id, h.score) for h in hits], reranker.similarities(text, hits), candidates=len(hits), weight=weight
    )
    return [by_id[d] for d, _ in ranked]


def test_rerank_rescores_the_head_and_keeps_the_tail_order():
    first = [("a", 9.0), ("b", 8.0), ("c", 7.0), ("d", 6.0), ("e", 5.0)]
    similarity = {"a": 0.1, "b": 0.2, "c": 0.9}
    ranked = rerank(first, similarity, candidates=3, weight=0.0)
    assert [d for d, _ in ranked] == ["c", "b", "a", "d", "e"]  # head by similarity alone, tail as it was
    assert rerank(first, similarity, candidates=3, weight=1.0)[:3] == [("a", 1.0), ("b", 0.5), ("c", 0.0)]
    # w * minmax(first) + (1 - w) * similarity
    mixed = dict(rerank(first, similarity, candidates=3, weight=0.5))
    assert mixed["b"] == pytest.approx(0.5 * 0.5 + 0.5 * 0.2) and mixed["e"] == 5.0


def test_cache_round_trip(tmp_path):
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    cache.put_many({"a": np.array([0.5, -1.0], dtype=np.float32)})
    assert np.array_equal(cache.get_many(["a", "b"])["a"], np.array([0.5, -1.0], dtype=np.float32))
    assert EmbeddingCache(tmp_path / "c.sqlite").get_many(["b"]) == {}


def test_minilm_moves_the_matching_function_up_and_caches_it(reranker):
    hits = [
        hit("1", "send_email", "def send_email(to, body):\n    smtp.sendmail(to, body)", 3.0),
        hit("2", "load_csv", "def load_csv(path):\n    return pandas.read_csv(path)", 1.0),
        hit("3", "resize_image", "def resize_image(img, w, h):\n    return img.resize((w, h))", 2.0),
    ]
    reranked = rescore(reranker, "read a csv file into a dataframe", hits, 0.0)
    assert reranked[0].doc_id == "2" and sorted(h.doc_id for h in reranked) == ["1", "2", "3"]
    assert set(reranker.cache.get_many(["1", "2", "3"])) == {"1", "2", "3"}
    # First-stage weight 1 keeps the first-stage order.
    assert [h.doc_id for h in rescore(reranker, "read a csv file", hits, 1.0)] == ["1", "3", "2"]
    # Cached vectors are the ones the model computes.
    fresh = reranker.encoder.encode_functions([reranker_function(h) for h in hits])
    assert np.allclose(reranker.code_vectors(hits), fresh, atol=1e-5)


def reranker_function(h):
    from hybrid_search.retrieval.rerank import function_of

    return function_of(h)


def test_int8_reranker_keeps_the_ranking_and_its_own_cache(reranker, tmp_path):
    quantized = Reranker(load_reranker("minilm", models=tmp_path, int8=True), tmp_path)
    hits = [
        hit("1", "send_email", "def send_email(to, body):\n    smtp.sendmail(to, body)", 1.0),
        hit("2", "load_csv", "def load_csv(path):\n    return pandas.read_csv(path)", 1.0),
    ]
    assert rescore(quantized, "read a csv file into a dataframe", hits, 0.0)[0].doc_id == "2"
    full, int8 = reranker.code_vectors(hits), quantized.code_vectors(hits)
    assert np.allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-4)
    assert not np.allclose(full, int8, atol=1e-5)  # the weights really are quantised
    assert (np.sum(full * int8, axis=1) > 0.8).all()  # ... and the vectors stay close to full precision
    assert "int8" in quantized.cache.db.execute("PRAGMA database_list").fetchone()[2]


def test_reproducible_reranker_gives_each_function_one_vector_whatever_was_embedded_before(tmp_path):
    int8 = load_reranker("minilm", models=tmp_path, int8=True)
    hits = [
        hit("1", "send_email", "def send_email(to, body):\n    smtp.sendmail(to, body)", 1.0),
        hit("2", "load_csv", "def load_csv(path):\n    return pandas.read_csv(path)", 1.0),
        hit("3", "resize", "def resize(img, w, h):\n    '''Scale.'''\n    return img.resize((w * 2, h * 2))", 1.0),
        hit("4", "parse", "def parse(s):\n    return [int(x) for x in s.split(',') if x.strip()]", 1.0),
    ]
    # Batched, int8 vectors depend on their batch-mates: that is what `reproducible` removes.
    together = Reranker(int8, tmp_path / "batched").code_vectors(hits)
    apart = Reranker(int8, tmp_path / "single").code_vectors(hits[:1])
    assert not np.array_equal(together[0], apart[0])
    first = Reranker(int8, tmp_path / "cold-1").reproducible()
    first.code_vectors(hits[2:])  # another query embedded some of them first
    warm = first.code_vectors(hits)
    second = Reranker(int8, tmp_path / "cold-2").reproducible().code_vectors(hits[::-1])[::-1]
    assert np.array_equal(warm, second)
    assert "-alone-" in first.cache.db.execute("PRAGMA database_list").fetchone()[2]


def test_a_docstring_reading_reranker_finds_a_function_by_its_docstring_and_keeps_its_own_cache(tmp_path):
    cryptic = "def f(a):\n    b = a.split()\n    return {w: b.count(w) for w in b}"
    hits = [
        Hit("1", "https://x/1", 1.0, {"func_name": "g", "code": "def g(x):\n    return x[::-1]", "docstring": ""}),
        Hit(
            "2",
            "https://x/2",
            1.0,
            {"func_name": "f", "code": cryptic, "docstring": "Count how often each word occurs."},
        ),
    ]
    code_only = Reranker(load_reranker("minilm", models=tmp_path), tmp_path)
    reading = Reranker(load_reranker("minilm", models=tmp_path, reads_docstring=True), tmp_path)
    query = "count the occurrences of each word in a text"
    assert reading.similarities(query, hits)["2"] > code_only.similarities(query, hits)["2"] + 0.1
    # A function without a docstring reads the same either way; the two models keep separate caches.
    assert np.allclose(reading.code_vectors(hits[:1]), code_only.code_vectors(hits[:1]), atol=1e-5)
    assert "-doc-" in reading.cache.db.execute("PRAGMA database_list").fetchone()[2]
    assert "-doc-" not in code_only.cache.db.execute("PRAGMA database_list").fetchone()[2]


def test_a_re_ranker_reading_fewer_tokens_sees_less_of_a_long_function_and_keeps_its_own_cache(tmp_path):
    long_tail = "\n".join(f"    total_{i} = parse_csv_rows(path, column_{i})" for i in range(60))
    hits = [
        hit("1", "load", f"def load(path):\n{long_tail}\n    return total_0", 1.0),
        hit("2", "add", "def add(a, b):\n    return a + b", 1.0),
    ]
    full = Reranker(load_reranker("minilm", models=tmp_path), tmp_path)
    short = Reranker(load_reranker("minilm", models=tmp_path, max_tokens=16), tmp_path)
    assert short.encoder.max_tokens == 16 and full.encoder.max_tokens == 128
    long_full, long_short = full.code_vectors(hits[:1])[0], short.code_vectors(hits[:1])[0]
    assert float(long_full @ long_short) < 0.99  # the short reader stopped inside the function
    # A function shorter than either length reads the same.
    assert np.allclose(full.code_vectors(hits[1:]), short.code_vectors(hits[1:]), atol=1e-5)
    assert "-t16-" in short.cache.db.execute("PRAGMA database_list").fetchone()[2]
    assert "-t" not in full.cache.db.execute("PRAGMA database_list").fetchone()[2].rsplit("/", 1)[1]


def test_rerank_params_refuse_a_length_minilm_cannot_read():
    from hybrid_search import HybridError
    from hybrid_search.retrieval.params import RerankParams

    assert RerankParams.from_dict({"max_tokens": 96}).max_tokens == 96
    assert RerankParams.from_dict({}).max_tokens == 128  # choices saved before the setting existed
    for length in (8, 1024):
        with pytest.raises(HybridError, match="max_tokens"):
            RerankParams.from_dict({"max_tokens": length})
