"""`hybrid tune`: choose lexical boosts by MRR on the valid partition (see pipeline/valid.py for the protocol)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from elasticsearch import Elasticsearch
from tqdm import tqdm

from hybrid_search.data.annotations import annotated_urls
from hybrid_search.data.pairs import Pair
from hybrid_search.data.types import Function
from hybrid_search.es.queries import LexicalParams
from hybrid_search.pipeline import valid
from hybrid_search.retrieval.base import Hit
from hybrid_search.retrieval.lexical import PARAMS_FILE, LexicalRetriever


def save_choice(path: Path, summary: dict, echo=print) -> None:
    """Write a tuning summary (chosen parameters, valid scores, every candidate tried) next to the code using it."""
    path.write_text(json.dumps(summary, indent=2) + "\n")
    echo(f"saved to {path}")


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
        # Query understanding (spaCy): identifier-style variants and lemmas as extra clauses.
        lambda best: [
            replace(best, identifier_boost=i, lemma_boost=m) for i in (0.0, 1.0, 2.0, 4.0) for m in (0.0, 0.5)
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
        save_choice(PARAMS_FILE, summary, echo)
    return summary


def _describe(params: LexicalParams) -> str:
    variants = f" identifiers^{params.identifier_boost:g} lemmas^{params.lemma_boost:g}" if params.uses_variants else ""
    return f"{params.type} " + " ".join(params.field_list()) + variants


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
    from hybrid_search.retrieval.dense import DenseRetriever, knn_body

    retriever = DenseRetriever(client, index, source=False)
    functions = list(read_corpus(folder, ReadReport()))
    indexed = client.count(index=index)["count"]
    if indexed != len(functions):
        echo(f"warning: {index} holds {indexed:,} documents, the corpus {len(functions):,}")
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
        save_choice(DENSE_PARAMS, summary, echo)
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


@dataclass
class ValidRuns:
    """First-stage lists of the valid docstring queries: lexical from the valid index, dense by exact search."""

    queries: list[Pair]
    functions: dict[str, Function]  # doc id (masked ids included) -> function
    lexical: list[dict[str, float]]
    dense: list[dict[str, float]]
    encoder: str


def valid_first_stage(
    client: Elasticsearch,
    folder: Path,
    encoder_name: str,
    n_queries: int,
    seed: int,
    valid_index: str,
    depth: int,
    progress: bool = True,
) -> ValidRuns:
    """Lexical lists come from the valid index (target masked, see pipeline/valid.py); dense lists from exact
    search over the valid pool's vectors (the encoder never reads docstrings, so its target needs no
    masking; it is renamed to the masked copy's id so both lists name the same document)."""
    from hybrid_search.encoder.encoder import Encoder
    from hybrid_search.evaluation.dense import top_k

    functions = valid.valid_functions(folder)
    queries = valid.sample_queries(functions, n_queries, seed, annotated_urls(folder))
    valid.build_valid_index(client, valid_index, functions, queries, progress=progress)
    encoder = Encoder.load(encoder_name)
    pool = encoder.encode_functions(functions)
    query_vectors = encoder.encode_queries([q.query for q in queries])
    dense_runs = []
    for query, vector, row in zip(queries, query_vectors, top_k(query_vectors, pool, depth)):
        own = query.function.doc_id
        dense_runs.append(
            {
                (valid.masked_id(query) if functions[i].doc_id == own else functions[i].doc_id): float(pool[i] @ vector)
                for i in row
            }
        )
    lexical = LexicalRetriever(client, valid_index, mode="lexical", source=False)
    hits = lexical.search_many([q.query for q in queries], k=depth, filters=[valid.pool_filter(q) for q in queries])
    by_id = {f.doc_id: f for f in functions} | {valid.masked_id(q): q.function for q in queries}
    return ValidRuns(queries, by_id, [{h.doc_id: h.score for h in row} for row in hits], dense_runs, encoder.name)


def pool_scores(queries: list[Pair], runs: list[dict[str, float]]) -> dict:
    """Pool MRR and recall@100 of the masked targets in fused runs."""
    from hybrid_search.evaluation.mrr import mean_reciprocal_rank, recall_at
    from hybrid_search.retrieval.fusion import top

    ranks = []
    for query, run in zip(queries, runs):
        ordered = [d for d, _ in top(run, 1000)]
        target = valid.masked_id(query)
        ranks.append(ordered.index(target) + 1 if target in ordered else None)
    return {"mrr_pool": mean_reciprocal_rank(ranks), "recall_at_100_pool": recall_at(ranks, 100)}


def _cut(runs: list[dict[str, float]], n: int) -> list[dict[str, float]]:
    from hybrid_search.retrieval.fusion import top

    return [dict(top(run, n)) for run in runs]


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
    """Fusion method, weights and depth by pool MRR on the valid docstring queries."""
    from hybrid_search.retrieval.hybrid import PARAMS_FILE as HYBRID_PARAMS

    grid = hybrid_candidates()
    runs = valid_first_stage(
        client, folder, encoder_name, n_queries, seed, valid_index, max(p.depth for p in grid), progress
    )
    singles = {"lexical": pool_scores(runs.queries, runs.lexical), "dense": pool_scores(runs.queries, runs.dense)}
    for name, result in singles.items():
        echo(f"{name:<44} pool MRR {result['mrr_pool']:.4f}  R@100 {result['recall_at_100_pool']:.3f}")
    tried, best, best_result = [], None, None
    for params in grid:
        lexical, dense = _cut(runs.lexical, params.depth), _cut(runs.dense, params.depth)
        result = pool_scores(runs.queries, [params.fuse(lex, den) for lex, den in zip(lexical, dense)])
        tried.append({"params": params.to_dict(), **result})
        label = f"{params.method} depth {params.depth} w {params.weights} " + (
            f"k {params.rrf_k:g}" if params.method == "rrf" else params.norm
        )
        echo(f"{label:<44} pool MRR {result['mrr_pool']:.4f}  R@100 {result['recall_at_100_pool']:.3f}")
        if best_result is None or result["mrr_pool"] > best_result["mrr_pool"]:
            best, best_result = params, result
    summary = {
        "params": best.to_dict(),
        "encoder": runs.encoder,
        "valid": best_result,
        "single_modes": singles,
        "selected_by": "mrr_pool on valid docstring queries (target docstring masked for lexical)",
        "protocol": {"queries": len(runs.queries), "seed": seed},
        "tried": tried,
    }
    echo(f"best: {best.to_dict()} pool MRR {best_result['mrr_pool']:.4f}")
    if write:
        save_choice(HYBRID_PARAMS, summary, echo)
    return summary


def tune_rerank(
    client: Elasticsearch,
    folder: Path,
    encoder_name: str,
    models: list[str],
    n_rerank: int,
    seed: int,
    valid_index: str,
    write: bool,
    progress: bool = True,
    echo=print,
    latency_budget_ms: float = 500.0,
) -> dict:
    """Re-ranker model, candidate depth K and first-stage weight, by pool MRR on the first `n_rerank` valid queries.

    MiniLM embeds ~50 functions/s on a CPU, so only a subset of the valid queries is re-ranked (their
    candidates are cached, so a second run is quick); the hybrid-only MRR on the same subset is the reference.
    Only settings whose cold-cache cost fits `latency_budget_ms` per query are eligible: K candidates at the
    measured embedding rate plus the query's own encoding.
    """
    from hybrid_search.retrieval.fusion import top
    from hybrid_search.retrieval.hybrid import load_fusion_params
    from hybrid_search.retrieval.rerank import PARAMS_FILE as RERANK_PARAMS
    from hybrid_search.retrieval.rerank import Reranker, combine_scores

    fusion_params = load_fusion_params()
    depths, weights = (10, 20, 30, 50), (0.0, 0.25, 0.5, 0.75)
    runs = valid_first_stage(client, folder, encoder_name, 1000, seed, valid_index, fusion_params.depth, progress)
    queries = runs.queries[:n_rerank]
    first = [
        dict(top(fusion_params.fuse(lex, den), max(depths)))
        for lex, den in zip(
            _cut(runs.lexical[:n_rerank], fusion_params.depth), _cut(runs.dense[:n_rerank], fusion_params.depth)
        )
    ]
    reference = pool_scores(queries, first)
    echo(f"hybrid (no re-ranking), {len(queries)} queries: pool MRR {reference['mrr_pool']:.4f}")
    tried, best, best_result = [], None, None
    for model, int8 in ((m, q) for m in models for q in (False, True)):
        reranker = Reranker(model, int8=int8)
        label = f"{model}{' int8' if int8 else ''}"
        per_function_ms, per_query_ms = _cold_costs(reranker, runs, first, queries)
        echo(f"{label}: cold cost {per_function_ms:.1f} ms per candidate + {per_query_ms:.1f} ms per query")
        similarities = []
        for query, run in zip(tqdm(queries, desc=f"embedding candidates ({label})", disable=not progress), first):
            ids = list(run)
            hits = [Hit(d, runs.functions[d].url, run[d], _source_of(runs.functions[d])) for d in ids]
            vectors = reranker.code_vectors(hits)
            similarities.append(dict(zip(ids, (vectors @ reranker.encoder.encode_queries([query.query])[0]).tolist())))
        for depth in depths:
            for weight in weights:
                reranked = []
                for run, sims in zip(first, similarities):
                    head = dict(top(run, depth))
                    rescored = combine_scores(head, sims, weight)
                    rescored.update({d: s - 1e9 for d, s in run.items() if d not in head})  # tail keeps its order
                    reranked.append(rescored)
                result = pool_scores(queries, reranked)
                result["cold_ms_estimate"] = round(depth * per_function_ms + per_query_ms, 1)
                params = {
                    "model": reranker.encoder.name,
                    "int8": int8,
                    "candidates": depth,
                    "first_stage_weight": weight,
                }
                tried.append({"params": params, **result})
                fits = result["cold_ms_estimate"] <= latency_budget_ms
                echo(
                    f"{label:<17} K {depth:>3}  w {weight:.2f}   pool MRR {result['mrr_pool']:.4f}   "
                    f"cold ~{result['cold_ms_estimate']:.0f} ms{'' if fits else ' (over budget)'}"
                )
                if fits and (best_result is None or result["mrr_pool"] > best_result["mrr_pool"]):
                    best, best_result = params, result
    summary = {
        "params": best,
        "valid": best_result,
        "hybrid_reference": reference,
        "encoder": runs.encoder,
        "selected_by": f"mrr_pool on the first {len(queries)} valid docstring queries, among settings whose "
        f"cold-cache cost is at most {latency_budget_ms:g} ms per query",
        "tried": tried,
    }
    echo(f"best: {best} pool MRR {best_result['mrr_pool']:.4f} (hybrid alone {reference['mrr_pool']:.4f})")
    if write:
        save_choice(RERANK_PARAMS, summary, echo)
    return summary


def _cold_costs(reranker, runs: ValidRuns, first: list[dict], queries: list[Pair], sample: int = 8) -> tuple:
    """Milliseconds to embed one candidate and one query with the re-ranker, cache bypassed.

    Candidates are embedded one query's list at a time, as at search time (a batch is padded to its longest
    function, so embedding a large mixed sample at once under-estimates the cost)."""
    lists = [[runs.functions[d] for d in list(run)[:30]] for run in first[:sample]]
    started = time.perf_counter()
    for functions in lists:
        reranker.encoder.encode_functions(functions)
    per_function = (time.perf_counter() - started) * 1000 / sum(map(len, lists))
    texts = [q.query for q in queries[:32]]
    started = time.perf_counter()
    for text in texts:
        reranker.encoder.encode_queries([text])
    return per_function, (time.perf_counter() - started) * 1000 / len(texts)


def _source_of(function: Function) -> dict:
    return {"func_name": function.func_name, "repo": function.repo, "path": function.path, "code": function.code}
