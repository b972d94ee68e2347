"""`hybrid tune dense`: kNN depth (`num_candidates`) by HNSW recall against exact search over the same vectors."""

from __future__ import annotations

import statistics
import time

import numpy as np

from hybrid_search.data.annotations import annotated_urls
from hybrid_search.data.corpus import ReadReport, read_corpus
from hybrid_search.es.indexing import index_meta
from hybrid_search.es.queries import knn_search
from hybrid_search.pipeline import valid
from hybrid_search.pipeline.tuning.common import TuneRun, encoder_identity
from hybrid_search.retrieval.dense import index_encoder
from hybrid_search.retrieval.exact import top_k
from hybrid_search.retrieval.params import DenseParams

CANDIDATES = (100, 200, 400, 800, 1600, 2400, 3200, 4800)


def tune_dense(run: TuneRun, target_recall: float = 0.98) -> dict:
    """The smallest `num_candidates` whose HNSW top-100 recall against exact search over the same vectors
    reaches `target_recall`, on valid docstring queries over the whole live index."""
    client, folder, alias, echo = run.client, run.folder, run.alias, run.echo
    meta = index_meta(client, alias)
    encoder = index_encoder(meta, alias, models=run.paths.models)
    functions = list(read_corpus(folder, ReadReport()))
    indexed = client.count(index=alias)["count"]
    if indexed != len(functions):
        echo(f"warning: {alias} holds {indexed:,} documents, the corpus {len(functions):,}")
    queries = valid.sample_queries(
        [f for f in functions if f.partition == "valid"], run.n_queries, run.seed, annotated_urls(folder)
    )
    echo(f"encoding {len(functions):,} functions for exact search ...")
    started = time.monotonic()
    pool = encoder.encode_functions(functions)
    encode_rate = len(functions) / (time.monotonic() - started)
    query_vectors = encoder.encode_queries([q.query for q in queries])
    exact = top_k(query_vectors, pool, 100)
    truths = [({functions[i].doc_id for i in row}, {functions[i].doc_id for i in row[:10]}) for row in exact]
    rows = [_recall_at_depth(client, alias, depth, query_vectors, truths) for depth in CANDIDATES]
    for row in rows:
        echo(
            f"num_candidates {row['num_candidates']:>5}: HNSW recall@100 {row['recall_at_100']:.4f}, "
            f"recall@10 {row['recall_at_10']:.4f}, p50 {row['latency_ms_p50']:.1f} ms"
        )
    chosen = next((r for r in rows if r["recall_at_100"] >= target_recall), rows[-1])
    echo(f"chosen num_candidates {chosen['num_candidates']} (recall@100 {chosen['recall_at_100']:.4f})")
    return run.record(
        "dense",
        DenseParams(num_candidates=chosen["num_candidates"]),
        made_for={"corpus": meta.get("build", {}).get("files"), "encoder": encoder_identity(encoder)},
        valid_scores={"recall_at_100_vs_exact": chosen["recall_at_100"]},
        summary={
            "selected_by": f"smallest num_candidates with HNSW recall@100 >= {target_recall} vs exact search, "
            f"{len(queries)} valid docstring queries over {alias}",
            "encode_functions_per_s": round(encode_rate, 1),
            "tried": rows,
        },
    )


def _recall_at_depth(client, index: str, depth: int, query_vectors, truths) -> dict:
    recalls, recalls10, latencies = [], [], []
    for vector, (truth, truth10) in zip(query_vectors, truths):
        body = knn_search(vector, k=100, num_candidates=depth, source=False)
        tick = time.perf_counter()
        hits = client.search(index=index, **body)["hits"]["hits"]
        latencies.append((time.perf_counter() - tick) * 1000)
        ids = [h["_id"] for h in hits]
        recalls.append(len(truth & set(ids)) / len(truth))
        recalls10.append(len(truth10 & set(ids[:10])) / len(truth10))
    return {
        "num_candidates": depth,
        "recall_at_100": float(np.mean(recalls)),
        "recall_at_10": float(np.mean(recalls10)),
        "latency_ms_p50": statistics.median(latencies),
    }
