"""The benchmark run: build cost, memory, latency, throughput and peers at each corpus scale.

At each fraction of the corpus (nested samples: the 25% sample is inside the 50% one) it builds a text-only
and a with-vectors index, times the encoder alone, reads index size and ES memory, runs the 99 challenge
queries plus valid docstring queries through every mode one at a time (each `Ranking`'s client wall time
and ES `took`), measures queries per second with 1 and 4 concurrent clients, and runs two peers on the
same functions and queries: bm25s (in-process BM25) and exact brute-force numpy search over the same
vectors (latency, and the recall reference for HNSW). Ratios ours/peer come from the same run, since this
machine is noisy. Every p50/p95/p99 is `hybrid_search.evaluation.stats.latency_percentiles`, as in
`hybrid eval` and on the page.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from elasticsearch import Elasticsearch

from benchmarks.peers import Bm25sSearch, ExactSearch, RoundTrip
from benchmarks.sample import in_sample, valid_query_texts, write_sample
from benchmarks.system import index_size_bytes, machine, node_memory
from hybrid_search.config import Paths
from hybrid_search.data.annotations import annotated_urls, load_qrels, load_queries
from hybrid_search.data.corpus import ReadReport, read_corpus
from hybrid_search.data.types import Function
from hybrid_search.evaluation.ndcg import evaluate_ndcg
from hybrid_search.evaluation.stats import latency_percentiles
from hybrid_search.retrieval import Retriever, make_retriever

if TYPE_CHECKING:  # annotations only: the bench imports no encoder until it loads one
    from hybrid_search.encoder import TextEncoder

SEARCH_FIELDS = ["url", "func_name"]
ECHO = Callable[[str], None]


@dataclass(frozen=True)
class BenchConfig:
    fractions: tuple[float, ...] = (0.25, 0.5, 1.0)
    valid_queries: int = 200
    k: int = 100
    modes: tuple[str, ...] = ("lexical", "dense", "hybrid", "rerank")
    concurrency: tuple[int, ...] = (1, 4)
    encoder: str = "nbow"
    seed: int = 13
    prefix: str = "bench"  # of the indices the harness builds and deletes
    # A larger pool laid out like the data folder (../shared/csn-python-full, 551k functions): one more scale
    # after the fractions, its size relative to the main pool (1.5x), so the curve reaches past 100%.
    larger_pool: str | None = None


@dataclass(frozen=True)
class Scale:
    """One scale: its sample, the folder it is written to, its alias and the folders its retrievers use."""

    fraction: float
    functions: list[Function]
    folder: Path
    alias: str
    paths: Paths

    def retriever(self, client: Elasticsearch, mode: str) -> Retriever:
        return make_retriever(client, self.alias, mode, paths=self.paths, source=SEARCH_FIELDS)


# ---------------------------------------------------------------- building


def timed_build(client: Elasticsearch, folder: Path, alias: str, encoder: TextEncoder | None = None) -> dict:
    from hybrid_search.pipeline.build import build_index

    report = build_index(client, folder, alias, progress=False, rebuild=True, encoder=encoder)
    size = index_size_bytes(client, report.index)
    return {
        "seconds": round(report.seconds, 1),
        "docs_per_s": round(report.indexed / report.seconds),
        "indexed": report.indexed,
        "size_mb": round(size / 2**20, 1),
        "size_bytes": size,
        "index": report.index,
    }


def drop_versions(client: Elasticsearch, *aliases: str) -> None:
    from hybrid_search.es.indexing import versions

    for alias in aliases:
        for index in versions(client, alias):
            client.indices.delete(index=index)


def encode_alone(encoder: TextEncoder, functions: list[Function], batch: int = 512) -> tuple[np.ndarray, float]:
    """The functions' vectors and the seconds spent encoding them: function encoding alone (no model load,
    no query, no indexing inside the measured time)."""
    started = time.perf_counter()
    parts = [encoder.encode_functions(functions[i : i + batch]) for i in range(0, len(functions), batch)]
    seconds = time.perf_counter() - started
    vectors = np.concatenate(parts) if parts else np.zeros((0, encoder.dims))
    return vectors.astype(np.float32), seconds


def without_index(build: dict) -> dict:
    return {key: value for key, value in build.items() if key != "index"}


def build_scale(client: Elasticsearch, scale: Scale, config: BenchConfig, result: dict, echo: ECHO):
    """Text-only index (built, measured, deleted), the encoder alone, then the with-vectors index the
    queries run on. Fills `result`; returns the encoder, the vectors and the with-vectors index."""
    from hybrid_search.encoder.resolve import load_encoder

    text = timed_build(client, scale.folder, scale.alias + "-text")
    result["build_text"] = without_index(text)
    client.indices.delete(index=text["index"])
    echo(f"  text-only index: {text['seconds']} s, {text['docs_per_s']} docs/s, {text['size_mb']} MB")

    encoder = load_encoder(config.encoder, models=scale.paths.models)
    vectors, encode_seconds = encode_alone(encoder, scale.functions)
    functions_per_s = round(len(scale.functions) / encode_seconds) if encode_seconds else 0
    result["encode"] = {"seconds": round(encode_seconds, 1), "functions_per_s": functions_per_s}
    built = timed_build(client, scale.folder, scale.alias, encoder=encoder)
    result["build_vectors"] = without_index(built)
    result["memory"] = node_memory(client)
    echo(f"  with vectors: {built['seconds']} s, {built['docs_per_s']} docs/s, {built['size_mb']} MB")
    return encoder, vectors, built["index"]


# ---------------------------------------------------------------- querying


def timed_queries(retriever: Retriever, queries: Sequence[str], k: int) -> dict:
    """Each query alone (`search`, never batched): the ranking's wall time and ES `took`, and its ranked
    urls (for NDCG and recall)."""
    rankings = [retriever.search(text, k=k) for text in queries]
    return {
        "wall": [r.wall_ms for r in rankings],
        "took": [r.es_ms for r in rankings],
        "ranked": [[h.url for h in r.hits] for r in rankings],
    }


def throughput(make: Callable[[], Retriever], queries: Sequence[str], k: int, clients: int) -> float:
    """Queries per second with `clients` threads, each with its own retriever, sharing the query list."""
    retrievers = [make() for _ in range(clients)]
    chunks = [queries[i::clients] for i in range(clients)]

    def run(i: int) -> None:
        for text in chunks[i]:
            retrievers[i].search(text, k=k)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(run, range(clients)))
    return len(queries) / (time.perf_counter() - started)


def ndcg_of(queries: Sequence[str], ranked: Sequence[Sequence[str]], qrels: dict) -> dict:
    scores = evaluate_ndcg({q.lower(): urls for q, urls in zip(queries, ranked)}, qrels)
    return {"within": round(scores["ndcg_within"], 4), "all": round(scores["ndcg_all"], 4)}


def recall_at(approx: Sequence[Sequence[str]], exact: Sequence[Sequence[str]], depth: int) -> float:
    """Mean share of the exact top-`depth` that the approximate search also returns in its top `depth`."""
    shares = [len(set(a[:depth]) & set(e[:depth])) / max(1, len(e[:depth])) for a, e in zip(approx, exact)]
    return round(float(np.mean(shares)), 4) if shares else 0.0


def query_runs(client, scale: Scale, encoder, vectors, texts: list[str], k: int, modes, result: dict) -> dict:
    """Every mode, then exact numpy, bm25s and an empty round trip to ES, over the same queries one at a time;
    bm25s's indexing time goes into `result`."""
    runs = {mode: timed_queries(scale.retriever(client, mode), texts, k) for mode in modes}
    runs["exact numpy"] = timed_queries(ExactSearch(encoder, vectors, [f.url for f in scale.functions]), texts, k)
    started = time.perf_counter()
    bm25 = Bm25sSearch(scale.functions)
    result["bm25s_index_seconds"] = round(time.perf_counter() - started, 1)
    runs["bm25s"] = timed_queries(bm25, texts, k)
    runs[RoundTrip.mode] = timed_queries(RoundTrip(client, scale.alias), texts, k)
    return runs


def summarize_runs(result: dict, runs: dict, modes: Sequence[str], challenge: list[str], qrels: dict) -> None:
    """Latency and ES time percentiles, NDCG on the challenge queries (the first of each run) and HNSW recall."""
    n99 = len(challenge)
    result["latency_ms"] = {m: latency_percentiles(run["wall"]) for m, run in runs.items()}
    result["took_ms"] = {m: latency_percentiles(runs[m]["took"]) for m in modes}
    result["ndcg"] = {
        m: ndcg_of(challenge, run["ranked"][:n99], qrels) for m, run in runs.items() if m != RoundTrip.mode
    }
    if "dense" in runs:
        dense, exact = runs["dense"]["ranked"], runs["exact numpy"]["ranked"]
        result["hnsw_recall"] = {f"@{depth}": recall_at(dense, exact, depth) for depth in (10, 100)}


def qps_of(client: Elasticsearch, scale: Scale, texts: list[str], config: BenchConfig) -> dict:
    """Queries per second per mode and number of concurrent clients, at k 10."""
    return {
        mode: {
            str(n): round(throughput(lambda m=mode: scale.retriever(client, m), texts, 10, n), 1)
            for n in config.concurrency
        }
        for mode in config.modes
    }


# ---------------------------------------------------------------- one scale


def bench_fraction(
    client: Elasticsearch,
    functions: list[Function],
    fraction: float,
    queries: dict[str, list[str]],
    qrels: dict,
    config: BenchConfig,
    workdir: Path,
    *,
    paths: Paths,
    echo: ECHO = print,
    scale_of_main: float | None = None,
) -> dict:
    """One scale: a `fraction` of `functions`, reported as `scale_of_main` times the main pool when that is
    given (a larger pool's functions at fraction 1)."""
    # Every annotated function stays in each sample, so NDCG stays comparable: only the distractors grow.
    annotated = {url for relevance in qrels.values() for url in relevance}
    sample = [f for f in functions if in_sample(f.doc_id, fraction) or f.url in annotated]
    fraction = scale_of_main or fraction
    # rerank starts each scale with an empty embedding cache: its first-time cost is what is measured.
    scale = Scale(
        fraction,
        sample,
        folder=workdir / f"sample-{fraction:g}",
        alias=f"{config.prefix}-{round(fraction * 100)}",
        paths=replace(paths, cache=workdir / f"rerank-cache-{fraction:g}"),
    )
    write_sample(sample, scale.folder)
    drop_versions(client, scale.alias, scale.alias + "-text")  # left by an interrupted run
    result: dict = {"fraction": fraction, "functions": len(sample)}
    echo(f"[{fraction:.0%}] {len(sample):,} functions")

    encoder, vectors, index = build_scale(client, scale, config, result, echo)
    try:
        texts = queries["challenge"] + queries["valid"]
        runs = query_runs(client, scale, encoder, vectors, texts, config.k, config.modes, result)
        summarize_runs(result, runs, config.modes, queries["challenge"], qrels)
        result["qps"] = qps_of(client, scale, texts, config)
        result["ratios"] = ratios(result)
        result["memory_per_function"] = memory_per_function(result)
    finally:
        client.indices.delete(index=index)
    echo("  latency p50 ms: " + ", ".join(f"{m} {v['p50']:.1f}" for m, v in result["latency_ms"].items()))
    return result


def memory_per_function(result: dict) -> dict:
    """Bytes per function: on disk (the with-vectors index), in the ES heap and in the ES process (RSS)."""
    n, memory = result["functions"], result["memory"]

    def per(mb) -> int | None:
        return round(mb * 2**20 / n) if mb and n else None

    return {
        "index_bytes": round(result["build_vectors"]["size_bytes"] / n) if n else None,
        "heap_used_bytes": per(memory["heap_used_mb"]),
        "rss_bytes": per(memory["rss_mb"]),
    }


def ratios(result: dict) -> dict:
    """Ours over the peer from the same run (below 1: ours is faster)."""
    p50 = {m: v["p50"] for m, v in result["latency_ms"].items()}
    return {
        "lexical_p50 / bm25s_p50": round(p50["lexical"] / p50["bm25s"], 2) if "lexical" in p50 else None,
        "dense_p50 / exact_numpy_p50": round(p50["dense"] / p50["exact numpy"], 2) if "dense" in p50 else None,
    }


# ---------------------------------------------------------------- the whole run


def load_workload(data: Path, config: BenchConfig) -> tuple[list[Function], dict[str, list[str]], dict]:
    """The corpus, the queries (challenge, then valid docstrings) and the challenge's relevance judgements."""
    functions = list(read_corpus(data, ReadReport()))
    queries = {
        "challenge": load_queries(data / "queries.csv"),
        "valid": valid_query_texts(functions, config.valid_queries, config.seed, annotated_urls(data)),
    }
    return functions, queries, load_qrels(data / "annotationStore.csv")


def run_bench(client: Elasticsearch, data: Path, config: BenchConfig, *, paths: Paths, echo: ECHO = print) -> dict:
    """Every scale of `config` on the corpus at `data`; models are looked up in `paths.models`, and each
    scale's re-ranker cache lies in a temporary folder (never `paths.cache`)."""
    from hybrid_search.config import default_data_dir
    from hybrid_search.pipeline.local_node import local_heap

    functions, queries, qrels = load_workload(data, config)
    info = client.info()
    results = {
        "config": asdict(config),
        "machine": machine(),
        "elasticsearch": {"version": info["version"]["number"], "default_heap": local_heap(default_data_dir())},
        "queries": {name: len(texts) for name, texts in queries.items()},
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "scales": [],
    }
    with tempfile.TemporaryDirectory(prefix="hybrid-bench-") as workdir:
        for fraction in config.fractions:
            scale = bench_fraction(
                client, functions, fraction, queries, qrels, config, Path(workdir), paths=paths, echo=echo
            )
            results["scales"].append(scale)
        if config.larger_pool:
            results["scales"].append(
                bench_larger_pool(
                    client, Path(config.larger_pool), functions, queries, config, Path(workdir), paths, echo
                )
            )
    results["growth"] = growth(results["scales"])
    return results


def bench_larger_pool(
    client: Elasticsearch,
    folder: Path,
    main_pool: list[Function],
    queries: dict[str, list[str]],
    config: BenchConfig,
    workdir: Path,
    paths: Paths,
    echo: ECHO,
) -> dict:
    """The whole larger pool as one more scale, with the main pool's queries and the larger pool's judgements."""
    functions = list(read_corpus(folder, ReadReport()))
    relative = round(len(functions) / len(main_pool), 2) if main_pool else 1.0
    qrels = load_qrels(folder / "annotationStore.csv")
    return bench_fraction(
        client, functions, 1.0, queries, qrels, config, workdir, paths=paths, echo=echo, scale_of_main=relative
    )


def growth(scales: list[dict]) -> dict:
    """How each cost grows from the smallest to the largest scale, against the growth in functions."""
    if len(scales) < 2:
        return {}
    first, last = scales[0], scales[-1]
    size = last["functions"] / first["functions"]

    def ratio(get) -> float:
        a, b = get(first), get(last)
        return round(b / a, 2) if a else 0.0

    out = {"functions": round(size, 2)}
    out["build_vectors_seconds"] = ratio(lambda s: s["build_vectors"]["seconds"])
    out["index_size_mb"] = ratio(lambda s: s["build_vectors"]["size_mb"])
    for mode in first["latency_ms"]:
        out[f"{mode}_p50"] = ratio(lambda s, m=mode: s["latency_ms"][m]["p50"])
    return out
