"""Benchmark harness (`scripts/bench.py`): build cost, memory, latency, throughput and peers at corpus scales.

At each fraction of the corpus (nested samples: the 25% sample is inside the 50% one) it builds a text-only
and a with-vectors index, times the encoder alone, reads index size and ES memory, runs the 99 challenge
queries plus valid docstring queries through every mode one at a time (client wall time and ES `took`),
measures queries per second with 1 and 4 concurrent clients, and runs two peers on the same functions and
queries: bm25s (in-process BM25) and exact brute-force numpy search over the same vectors (latency, and the
recall reference for HNSW). Ratios ours/peer come from the same run, since this machine is noisy.
"""

from __future__ import annotations

import gzip
import json
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from elasticsearch import Elasticsearch

from hybrid_search.data.annotations import annotated_urls, load_qrels, load_queries
from hybrid_search.data.code import first_paragraph
from hybrid_search.data.corpus import ReadReport, read_corpus
from hybrid_search.data.types import Function
from hybrid_search.evaluation.dense import top_k
from hybrid_search.evaluation.ndcg import evaluate_ndcg

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


# ---------------------------------------------------------------- sampling and statistics


def in_sample(doc_id: str, fraction: float) -> bool:
    """Deterministic, nested samples: a function in the 25% sample is in every larger one."""
    return int(doc_id[:8], 16) < fraction * 0x1_0000_0000


def percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "mean": 0.0}
    p50, p95, p99 = (float(np.percentile(values, q)) for q in (50, 95, 99))
    return {"p50": p50, "p95": p95, "p99": p99, "mean": float(statistics.fmean(values))}


def write_sample(functions: Iterable[Function], folder: Path) -> int:
    """The sample as one shared-format shard (what `hybrid index` reads)."""
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    with gzip.open(folder / "functions-000.jsonl.gz", "wt", encoding="utf-8") as out:
        for f in functions:
            record = {key: getattr(f, key) for key in ("url", "repo", "path", "func_name", "code", "docstring")}
            out.write(json.dumps({**record, "partition": f.partition}) + "\n")
            count += 1
    return count


def valid_query_texts(functions: Iterable[Function], n: int, seed: int, exclude: set[str]) -> list[str]:
    """Docstring first paragraphs of valid-partition functions (a query workload, not a relevance set)."""
    texts = sorted({first_paragraph(f.docstring) for f in functions if f.partition == "valid" and f.url not in exclude})
    texts = [t for t in texts if 3 <= len(t.split()) <= 40]
    random.Random(seed).shuffle(texts)
    return texts[:n]


# ---------------------------------------------------------------- the machine and the node


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in _lines("/proc/cpuinfo") if "model name" in line), "?")
    mem_kb = next((int(line.split()[1]) for line in _lines("/proc/meminfo") if line.startswith("MemTotal")), 0)
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
    }


def node_memory(client: Elasticsearch) -> dict:
    """Heap setting and use from the node's stats; resident memory of the process from /proc when local."""
    stats = client.nodes.stats(metric="jvm,process")
    node = next(iter(stats["nodes"].values()))
    heap = node["jvm"]["mem"]
    from hybrid_search.config import home_dir
    from hybrid_search.es.node import NodePaths, running_pid

    pid = running_pid(NodePaths(home_dir()))
    status = _lines(f"/proc/{pid}/status") if pid else []
    rss_kb = next((int(line.split()[1]) for line in status if line.startswith("VmRSS")), 0)
    return {
        "heap_max_mb": round(heap["heap_max_in_bytes"] / 2**20),
        "heap_used_mb": round(heap["heap_used_in_bytes"] / 2**20),
        "rss_mb": round(rss_kb / 1024) if pid else None,
    }


def index_size_bytes(client: Elasticsearch, index: str) -> int:
    client.indices.refresh(index=index)
    stats = client.indices.stats(index=index, metric="store")
    return stats["_all"]["primaries"]["store"]["size_in_bytes"]


def _lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


# ---------------------------------------------------------------- building


def timed_build(client: Elasticsearch, folder: Path, alias: str, encoder=None) -> dict:
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


def encode_alone(encoder, functions: list[Function], batch: int = 512) -> tuple[np.ndarray, float]:
    started = time.perf_counter()
    vectors = [encoder.encode_functions(functions[i : i + batch]) for i in range(0, len(functions), batch)]
    return np.concatenate(vectors).astype(np.float32), time.perf_counter() - started


# ---------------------------------------------------------------- querying


def timed_queries(search: Callable, queries: Sequence[str], k: int, took: Callable[[], float]) -> dict:
    """Each query alone: client wall time and ES `took`, plus the ranked urls (for NDCG and recall)."""
    wall, es_took, ranked = [], [], []
    for text in queries:
        started = time.perf_counter()
        hits = search(text, k=k)
        wall.append((time.perf_counter() - started) * 1000)
        es_took.append(took())
        ranked.append([h.url for h in hits])
    return {"wall": wall, "took": es_took, "ranked": ranked}


def throughput(make_search: Callable[[], Callable], queries: Sequence[str], k: int, clients: int) -> float:
    """Queries per second with `clients` threads, each with its own retriever, sharing the query list."""
    searchers = [make_search() for _ in range(clients)]
    chunks = [queries[i::clients] for i in range(clients)]

    def run(i: int) -> None:
        for text in chunks[i]:
            searchers[i](text, k=k)

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


# ---------------------------------------------------------------- peers


class ExactSearch:
    """Brute-force cosine search over the same vectors (they are unit length): the recall reference."""

    def __init__(self, encoder, vectors: np.ndarray, urls: list[str]):
        self.encoder, self.vectors, self.urls = encoder, vectors, urls

    def search(self, text: str, k: int = 10) -> list:
        best = top_k(self.encoder.encode_queries([text]), self.vectors, k)[0]
        return [_UrlHit(self.urls[i]) for i in best]


class Bm25sSearch:
    """bm25s over the function's name, docstring and code (its default tokenizer and English stop words)."""

    def __init__(self, functions: list[Function]):
        import bm25s

        self.bm25s, self.urls = bm25s, [f.url for f in functions]
        corpus = [f"{f.func_name}\n{f.docstring}\n{f.code}" for f in functions]
        self.retriever = bm25s.BM25()
        self.retriever.index(bm25s.tokenize(corpus, stopwords="en", show_progress=False), show_progress=False)

    def search(self, text: str, k: int = 10) -> list:
        tokens = self.bm25s.tokenize([text], stopwords="en", show_progress=False)
        if not tokens.vocab:  # every word a stop word: bm25s cannot score an empty query
            return []
        docs, _ = self.retriever.retrieve(tokens, k=min(k, len(self.urls)), show_progress=False, n_threads=1)
        return [_UrlHit(self.urls[i]) for i in docs[0]]


@dataclass(frozen=True)
class _UrlHit:
    url: str


# ---------------------------------------------------------------- one scale


def bench_fraction(
    client: Elasticsearch,
    functions: list[Function],
    fraction: float,
    queries: dict[str, list[str]],
    qrels: dict,
    config: BenchConfig,
    workdir: Path,
    echo: ECHO = print,
) -> dict:
    from hybrid_search.encoder.encoder import Encoder
    from hybrid_search.retrieval import make_retriever

    # Every annotated function stays in each sample, so NDCG stays comparable: only the distractors grow.
    annotated = {url for relevance in qrels.values() for url in relevance}
    sample = [f for f in functions if in_sample(f.doc_id, fraction) or f.url in annotated]
    folder = workdir / f"sample-{fraction:g}"
    write_sample(sample, folder)
    alias = f"{config.prefix}-{round(fraction * 100)}"
    drop_versions(client, alias, alias + "-text")  # left by an interrupted run
    result: dict = {"fraction": fraction, "functions": len(sample)}
    echo(f"[{fraction:.0%}] {len(sample):,} functions")

    text = timed_build(client, folder, alias + "-text")
    result["build_text"] = {key: value for key, value in text.items() if key != "index"}
    client.indices.delete(index=text["index"])
    echo(f"  text-only index: {text['seconds']} s, {text['docs_per_s']} docs/s, {text['size_mb']} MB")

    encoder = Encoder.load(config.encoder)
    vectors, encode_seconds = encode_alone(encoder, sample)
    result["encode"] = {"seconds": round(encode_seconds, 1), "functions_per_s": round(len(sample) / encode_seconds)}
    built = timed_build(client, folder, alias, encoder=encoder)
    result["build_vectors"] = {key: value for key, value in built.items() if key != "index"}
    result["memory"] = node_memory(client)
    echo(f"  with vectors: {built['seconds']} s, {built['docs_per_s']} docs/s, {built['size_mb']} MB")

    all_queries = queries["challenge"] + queries["valid"]
    retrievers = {mode: make_retriever(client, alias, mode, source=SEARCH_FIELDS) for mode in config.modes}
    runs = {
        mode: timed_queries(r.search, all_queries, config.k, lambda r=r: r.took_ms) for mode, r in retrievers.items()
    }
    exact = ExactSearch(encoder, vectors, [f.url for f in sample])
    runs["exact numpy"] = timed_queries(exact.search, all_queries, config.k, lambda: 0.0)
    started = time.perf_counter()
    bm25 = Bm25sSearch(sample)
    result["bm25s_index_seconds"] = round(time.perf_counter() - started, 1)
    runs["bm25s"] = timed_queries(bm25.search, all_queries, config.k, lambda: 0.0)

    n99 = len(queries["challenge"])
    result["latency_ms"] = {m: percentiles(run["wall"]) for m, run in runs.items()}
    result["took_ms"] = {m: percentiles(runs[m]["took"]) for m in retrievers}
    result["ndcg"] = {m: ndcg_of(queries["challenge"], run["ranked"][:n99], qrels) for m, run in runs.items()}
    result["hnsw_recall"] = {
        f"@{depth}": recall_at(runs["dense"]["ranked"], runs["exact numpy"]["ranked"], depth) for depth in (10, 100)
    }
    result["qps"] = {
        mode: {
            str(n): round(
                throughput(
                    lambda m=mode: make_retriever(client, alias, m, source=SEARCH_FIELDS).search, all_queries, 10, n
                ),
                1,
            )
            for n in config.concurrency
        }
        for mode in config.modes
    }
    result["ratios"] = ratios(result)
    client.indices.delete(index=built["index"])
    echo("  latency p50 ms: " + ", ".join(f"{m} {v['p50']:.1f}" for m, v in result["latency_ms"].items()))
    return result


def ratios(result: dict) -> dict:
    """Ours over the peer from the same run (below 1: ours is faster)."""
    p50 = {m: v["p50"] for m, v in result["latency_ms"].items()}
    return {
        "lexical_p50 / bm25s_p50": round(p50["lexical"] / p50["bm25s"], 2) if "lexical" in p50 else None,
        "dense_p50 / exact_numpy_p50": round(p50["dense"] / p50["exact numpy"], 2) if "dense" in p50 else None,
    }


# ---------------------------------------------------------------- the whole run


def run_bench(client: Elasticsearch, data: Path, config: BenchConfig, echo: ECHO = print) -> dict:
    from hybrid_search.config import default_data_dir
    from hybrid_search.pipeline.local_node import local_heap

    functions = list(read_corpus(data, ReadReport()))
    challenge = load_queries(data / "queries.csv")
    queries = {
        "challenge": challenge,
        "valid": valid_query_texts(functions, config.valid_queries, config.seed, annotated_urls(data)),
    }
    qrels = load_qrels(data / "annotationStore.csv")
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
            # rerank starts each scale with an empty embedding cache: its first-time cost is what is measured.
            with scoped_env("HYBRID_CACHE_DIR", str(Path(workdir) / f"rerank-cache-{fraction:g}")):
                scale = bench_fraction(client, functions, fraction, queries, qrels, config, Path(workdir), echo)
            results["scales"].append(scale)
    results["growth"] = growth(results["scales"])
    return results


@contextmanager
def scoped_env(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


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


# ---------------------------------------------------------------- the report


def markdown(results: dict) -> str:
    """docs/benchmarks.md: the machine, then one table per measure with a column per scale."""
    m, es = results["machine"], results["elasticsearch"]
    scales = results["scales"]
    head = "| | " + " | ".join(f"{s['fraction']:.0%} ({s['functions']:,} fn)" for s in scales) + " |"
    rule = "|---" * (len(scales) + 1) + "|"

    def row(label: str, get, fmt: str = "{}") -> str:
        cells = []
        for s in scales:
            try:
                cells.append(fmt.format(get(s)))
            except (KeyError, TypeError):
                cells.append("-")
        return f"| {label} | " + " | ".join(cells) + " |"

    lines = [
        "# Benchmarks",
        "",
        (
            f"Measured {results['started']} with `scripts/bench.py` on {m['cores']} cores ({m['cpu']}), "
            f"{m['memory_gib']} GiB memory, Python {m['python']}; Elasticsearch {es['version']} local node, "
            f"heap {scales[-1]['memory']['heap_max_mb'] if scales else '?'} MB. Queries: the "
            f"{results['queries']['challenge']} challenge queries plus {results['queries']['valid']} valid docstring "
            f"queries, one at a time, k {results['config']['k']} (as `hybrid eval` asks). Samples are nested (hash of "
            "the function id) and all hold every annotated function, so NDCG is comparable across scales."
        ),
        "",
        "## Build and memory",
        "",
        head,
        rule,
        row("text-only index: seconds", lambda s: s["build_text"]["seconds"]),
        row("text-only index: docs/s", lambda s: s["build_text"]["docs_per_s"], "{:,}"),
        row("text-only index: size MB", lambda s: s["build_text"]["size_mb"]),
        row("encoding alone: seconds", lambda s: s["encode"]["seconds"]),
        row("encoding alone: functions/s", lambda s: s["encode"]["functions_per_s"], "{:,}"),
        row("index with vectors: seconds (encoding included)", lambda s: s["build_vectors"]["seconds"]),
        row("index with vectors: docs/s", lambda s: s["build_vectors"]["docs_per_s"], "{:,}"),
        row("index with vectors: size MB", lambda s: s["build_vectors"]["size_mb"]),
        row("ES heap max / used MB", lambda s: f"{s['memory']['heap_max_mb']} / {s['memory']['heap_used_mb']}"),
        row("ES process RSS MB", lambda s: s["memory"]["rss_mb"]),
        row("bm25s index: seconds", lambda s: s["bm25s_index_seconds"]),
        "",
        "## Latency per query, client wall time, ms (p50 / p95 / p99)",
        "",
        head,
        rule,
    ]
    systems = list(scales[0]["latency_ms"]) if scales else []
    for name in systems:
        lines.append(row(name, lambda s, n=name: _p(s["latency_ms"][n])))
    lines += ["", "## ES `took`, ms (p50 / p95 / p99): time inside Elasticsearch", "", head, rule]
    for name in scales[0]["took_ms"] if scales else []:
        lines.append(row(name, lambda s, n=name: _p(s["took_ms"][n])))
    lines += ["", "## Queries per second (1 / 4 concurrent clients, k 10; rerank's cache warm by then)", "", head, rule]
    for name in scales[0]["qps"] if scales else []:
        lines.append(row(name, lambda s, n=name: " / ".join(f"{v:.1f}" for v in s["qps"][n].values())))
    lines += ["", "## Quality on the sample: NDCG Within / All (99 queries), HNSW recall vs exact", "", head, rule]
    for name in systems:
        lines.append(row(f"NDCG {name}", lambda s, n=name: f"{s['ndcg'][n]['within']:.4f} / {s['ndcg'][n]['all']:.4f}"))
    lines.append(row("HNSW recall@10", lambda s: s["hnsw_recall"]["@10"]))
    lines.append(row("HNSW recall@100", lambda s: s["hnsw_recall"]["@100"]))
    lines += ["", "## Ratios from the same run (ours / peer; below 1 is faster)", "", head, rule]
    for name in scales[0]["ratios"] if scales else []:
        lines.append(row(name, lambda s, n=name: s["ratios"][n]))
    if results.get("growth"):
        g = results["growth"]
        lines += ["", f"## Growth from the smallest to the largest scale ({g['functions']}x the functions)", ""]
        lines += [f"- {name}: {value}x" for name, value in g.items() if name != "functions"]
    return "\n".join(lines) + "\n"


def _p(values: dict) -> str:
    return f"{values['p50']:.1f} / {values['p95']:.1f} / {values['p99']:.1f}"
