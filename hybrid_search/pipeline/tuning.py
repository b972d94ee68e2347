"""`hybrid tune`: choose lexical boosts by MRR on the valid partition (see pipeline/valid.py for the protocol)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from elasticsearch import Elasticsearch

from hybrid_search.data.annotations import annotated_urls
from hybrid_search.es.queries import LexicalParams
from hybrid_search.pipeline import valid
from hybrid_search.retrieval.lexical import PARAMS_FILE, LexicalRetriever


def body_field(params: LexicalParams) -> str:
    return "body.stem" if "body.stem" in params.fields else "body"


def stages() -> list[Callable[[LexicalParams], list[LexicalParams]]]:
    """Coordinate search: combination type and code field first, then name/code boosts, then extras.

    The docstring boost stays at its prior (1.0, the weight of every other field by default) and is not
    searched: the protocol masks the target's docstring while distractors keep theirs, so any docstring
    weight can only push the target down, and a search over it answers 0 (a first grid did: best pool MRR
    0.350 without docstrings, 0.287 with weight 1). That measures the protocol, not how docstrings help real queries.
    """

    def with_fields(params: LexicalParams, **boosts) -> LexicalParams:
        return replace(params, fields={**params.fields, **boosts})

    return [
        lambda best: [
            replace(best, type=t, tie_breaker=tb, fields=fields)
            for t, tb in (("most_fields", None), ("best_fields", 0.3))
            for fields in (best.fields, {("body.stem" if k == "body" else k): v for k, v in best.fields.items()})
        ],
        lambda best: [
            with_fields(best, func_name=n, **{body_field(best): b}) for n in (1.0, 2.0, 4.0) for b in (0.5, 1.0, 2.0)
        ],
        lambda best: [
            with_fields(best, **{"path.text": p, "docstring.code": c}) for p in (0.0, 0.5, 1.0) for c in (0.0, 0.5)
        ],
    ]


def tune_lexical(
    client: Elasticsearch,
    folder: Path,
    n_queries: int,
    seed: int,
    valid_index: str,
    write: bool,
    progress: bool,
    echo=print,
) -> dict:
    functions = valid.valid_functions(folder)
    queries = valid.sample_queries(functions, n_queries, seed, annotated_urls(folder))
    echo(f"valid partition: {len(functions):,} functions, {len(queries):,} docstring queries (seed {seed})")
    valid.build_valid_index(client, valid_index, functions, queries, progress=progress)

    def score(mode: str, params: LexicalParams | None = None) -> dict:
        retriever = LexicalRetriever(client, valid_index, mode=mode, params=params, source=False)
        started = time.monotonic()
        result = valid.evaluate_valid(lambda t, k, f: retriever.search_many(t, k=k, filters=f), queries)
        result["seconds"] = round(time.monotonic() - started, 1)
        return result

    tried: list[dict] = [{"mode": "baseline", **score("baseline")}]
    echo(_line("baseline", tried[0]))
    best, best_result = LexicalParams(), None
    seen: set[str] = set()
    for stage in stages():
        for params in stage(best):
            key = json.dumps(params.to_dict(), sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            result = {"mode": "lexical", "params": params.to_dict(), **score("lexical", params)}
            tried.append(result)
            echo(_line(_describe(params), result))
            if best_result is None or result["mrr_pool"] > best_result["mrr_pool"]:
                best, best_result = params, result
    summary = {
        "params": best.to_dict(),
        "selected_by": "mrr_pool on valid-partition docstring queries (target's docstring masked)",
        "fixed": {"docstring": "1.0 prior: not identifiable under masking (see pipeline/tuning.py stages)"},
        "valid": {k: best_result[k] for k in ("mrr_pool", "recall_at_100_pool", "mrr_csn")},
        "protocol": {"queries": len(queries), "seed": seed, "valid_functions": len(functions)},
        "tried": tried,
    }
    echo(f"best: {_describe(best)}  pool MRR {best_result['mrr_pool']:.4f}, CSN MRR {best_result['mrr_csn']:.4f}")
    if write:
        PARAMS_FILE.write_text(json.dumps(summary, indent=2) + "\n")
        echo(f"saved to {PARAMS_FILE}")
    return summary


def _describe(params: LexicalParams) -> str:
    return f"{params.type} " + " ".join(params.field_list())


def _line(name: str, result: dict) -> str:
    return (
        f"{name:<70} pool MRR {result['mrr_pool']:.4f}  R@100 {result['recall_at_100_pool']:.3f}  "
        f"CSN MRR {result['mrr_csn']:.4f}  ({result['seconds']}s)"
    )


def tune_dense(
    client: Elasticsearch,
    folder: Path,
    index: str,
    n_queries: int,
    seed: int,
    write: bool,
    candidates: tuple[int, ...] = (100, 200, 400, 800, 1600),
    target_recall: float = 0.98,
    progress: bool = True,
    echo=print,
) -> dict:
    """Choose kNN `num_candidates`: the smallest whose HNSW top-100 recall against exact search over the same
    vectors reaches `target_recall`, on valid docstring queries over the whole index."""
    import statistics

    import numpy as np

    from hybrid_search.data.corpus import ReadReport, read_corpus
    from hybrid_search.evaluation.dense import top_k
    from hybrid_search.retrieval.dense import PARAMS_FILE as DENSE_PARAMS
    from hybrid_search.retrieval.dense import DenseRetriever

    retriever = DenseRetriever(client, index, source=False)
    functions = list(read_corpus(folder, ReadReport()))
    if client.count(index=index)["count"] != len(functions):
        echo(f"warning: {index} holds {client.count(index=index)['count']:,} documents, the corpus {len(functions):,}")
    queries = valid.sample_queries(
        [f for f in functions if f.partition == "valid"], n_queries, seed, annotated_urls(folder)
    )
    echo(f"encoding {len(functions):,} functions for exact search ...")
    started = time.monotonic()
    pool = retriever.encoder.encode_functions(functions)
    encode_rate = len(functions) / (time.monotonic() - started)
    query_vectors = retriever.encoder.encode_queries([q.query for q in queries])
    exact = top_k(query_vectors, pool, 100)
    exact_ids = [{functions[i].doc_id for i in row} for row in exact]
    exact_top10 = [{functions[i].doc_id for i in row[:10]} for row in exact]
    rows = []
    for num_candidates in candidates:
        recalls, recalls10, latencies = [], [], []
        for vector, truth, truth10 in zip(query_vectors, exact_ids, exact_top10):
            from hybrid_search.retrieval.dense import knn_body

            body = knn_body(vector, 100, num_candidates, source=False)
            tick = time.perf_counter()
            hits = client.search(index=index, **body)["hits"]["hits"]
            latencies.append((time.perf_counter() - tick) * 1000)
            ids = [h["_id"] for h in hits]
            recalls.append(len(truth & set(ids)) / len(truth))
            recalls10.append(len(truth10 & set(ids[:10])) / len(truth10))
        row = {
            "num_candidates": num_candidates,
            "recall_at_100": float(np.mean(recalls)),
            "recall_at_10": float(np.mean(recalls10)),
            "latency_ms_p50": statistics.median(latencies),
        }
        rows.append(row)
        echo(
            f"num_candidates {num_candidates:>5}: HNSW recall@100 {row['recall_at_100']:.4f}, "
            f"recall@10 {row['recall_at_10']:.4f}, p50 {row['latency_ms_p50']:.1f} ms"
        )
    chosen = next((r for r in rows if r["recall_at_100"] >= target_recall), rows[-1])
    summary = {
        "num_candidates": chosen["num_candidates"],
        "encoder": retriever.encoder.name,
        "selected_by": f"smallest num_candidates with HNSW recall@100 >= {target_recall} vs exact search, "
        f"{len(queries)} valid docstring queries over {index}",
        "encode_functions_per_s": round(encode_rate, 1),
        "tried": rows,
    }
    echo(f"chosen num_candidates {chosen['num_candidates']} (recall@100 {chosen['recall_at_100']:.4f})")
    if write:
        DENSE_PARAMS.write_text(json.dumps(summary, indent=2) + "\n")
        echo(f"saved to {DENSE_PARAMS}")
    return summary


def hybrid_candidates() -> list:
    """Fusion settings tried on valid: RRF (k, weights) and min-max / z-score linear combinations, two depths."""
    from hybrid_search.retrieval.hybrid import FusionParams

    grid = []
    for depth in (100, 200):
        for k in (10, 30, 60):
            for weights in ((1.0, 1.0), (1.0, 0.5), (0.5, 1.0)):
                grid.append(FusionParams("rrf", depth, weights, rrf_k=k))
        for norm in ("minmax", "zscore"):
            for alpha in (0.2, 0.35, 0.5, 0.65, 0.8):
                grid.append(FusionParams("linear", depth, (alpha, 1 - alpha), norm=norm))
    return grid


def tune_hybrid(
    client: Elasticsearch,
    folder: Path,
    encoder_name: str,
    n_queries: int,
    seed: int,
    valid_index: str,
    write: bool,
    progress: bool = True,
    echo=print,
) -> dict:
    """Fusion method, weights and depth by pool MRR on the valid docstring queries.

    Lexical lists come from the valid index (target masked, see pipeline/valid.py); dense lists from exact
    search over the valid pool's vectors (the encoder never reads docstrings, so its target needs no
    masking; it is renamed to the masked copy's id so both lists name the same document).
    """

    from hybrid_search.encoder.encoder import Encoder
    from hybrid_search.evaluation.dense import top_k
    from hybrid_search.evaluation.mrr import mean_reciprocal_rank, recall_at
    from hybrid_search.retrieval.fusion import top
    from hybrid_search.retrieval.hybrid import PARAMS_FILE as HYBRID_PARAMS

    functions = valid.valid_functions(folder)
    queries = valid.sample_queries(functions, n_queries, seed, annotated_urls(folder))
    valid.build_valid_index(client, valid_index, functions, queries, progress=progress)
    encoder = Encoder.load(encoder_name)
    pool = encoder.encode_functions(functions)
    query_vectors = encoder.encode_queries([q.query for q in queries])
    depth = max(p.depth for p in hybrid_candidates())
    nearest = top_k(query_vectors, pool, depth)
    dense_runs = []
    for query, vector, row in zip(queries, query_vectors, nearest):
        run = {}
        for i in row:
            doc_id = functions[i].doc_id
            run[valid.masked_id(query) if doc_id == query.function.doc_id else doc_id] = float(pool[i] @ vector)
        dense_runs.append(run)
    lexical = LexicalRetriever(client, valid_index, mode="lexical", source=False)
    lexical_hits = lexical.search_many(
        [q.query for q in queries], k=depth, filters=[valid.pool_filter(q) for q in queries]
    )
    lexical_runs = [{h.doc_id: h.score for h in hits} for hits in lexical_hits]

    def score(runs_for_query) -> dict:
        ranks = []
        for query, run in zip(queries, runs_for_query):
            ordered = [d for d, _ in top(run, 1000)]
            target = valid.masked_id(query)
            ranks.append(ordered.index(target) + 1 if target in ordered else None)
        return {"mrr_pool": mean_reciprocal_rank(ranks), "recall_at_100_pool": recall_at(ranks, 100)}

    def cut(runs, n):
        return [dict(top(run, n)) for run in runs]

    singles = {"lexical": score(lexical_runs), "dense": score(dense_runs)}
    for name, result in singles.items():
        echo(f"{name:<44} pool MRR {result['mrr_pool']:.4f}  R@100 {result['recall_at_100_pool']:.3f}")
    tried, best, best_result = [], None, None
    for params in hybrid_candidates():
        fused = [
            params.fuse(lex, den) for lex, den in zip(cut(lexical_runs, params.depth), cut(dense_runs, params.depth))
        ]
        result = score(fused)
        tried.append({"params": params.to_dict(), **result})
        label = f"{params.method} depth {params.depth} w {params.weights} " + (
            f"k {params.rrf_k:g}" if params.method == "rrf" else params.norm
        )
        echo(f"{label:<44} pool MRR {result['mrr_pool']:.4f}  R@100 {result['recall_at_100_pool']:.3f}")
        if best_result is None or result["mrr_pool"] > best_result["mrr_pool"]:
            best, best_result = params, result
    summary = {
        "params": best.to_dict(),
        "encoder": encoder.name,
        "valid": best_result,
        "single_modes": singles,
        "selected_by": "mrr_pool on valid docstring queries (target docstring masked for lexical)",
        "protocol": {"queries": len(queries), "seed": seed, "valid_functions": len(functions)},
        "tried": tried,
    }
    echo(f"best: {best.to_dict()} pool MRR {best_result['mrr_pool']:.4f}")
    if write:
        HYBRID_PARAMS.write_text(json.dumps(summary, indent=2) + "\n")
        echo(f"saved to {HYBRID_PARAMS}")
    return summary
