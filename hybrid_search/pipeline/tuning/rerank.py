"""`hybrid tune rerank`: re-ranker model, candidate depth K and first-stage weight, by pool MRR on valid queries.

MiniLM embeds ~50 functions/s on a CPU, so only a subset of the valid queries is re-ranked (their candidates
are cached, so a second run is quick); the hybrid-only MRR on the same subset is the reference. Only
settings whose cold-cache cost fits the latency budget per query are eligible: K candidates at the measured
embedding rate plus the query's own encoding.
"""

from __future__ import annotations

import time

from tqdm import tqdm

from hybrid_search import HybridError
from hybrid_search.data.pairs import Pair
from hybrid_search.data.types import Function
from hybrid_search.pipeline.tuning.common import (
    TuneRun,
    ValidRuns,
    corpus_fingerprint,
    cut,
    encoder_identity,
    pool_scores,
)
from hybrid_search.retrieval import fusion
from hybrid_search.retrieval.base import Hit
from hybrid_search.retrieval.params import FusionParams, LexicalParams, RerankParams
from hybrid_search.retrieval.rerank import Reranker, rerank

DEPTHS, WEIGHTS = (10, 20, 30, 50), (0.0, 0.25, 0.5, 0.75)
FIRST_STAGE_QUERIES = 1000  # the valid sample the first stage is built for (the same as `tune hybrid`)


def tune_rerank(
    run: TuneRun,
    encoder,
    models: list[str],
    *,
    lexical_params: LexicalParams,
    fusion_params: FusionParams,
    latency_budget_ms: float = 500.0,
) -> dict:
    """`run.n_queries` is how many of the first stage's valid queries are re-ranked."""
    from hybrid_search.encoder.resolve import load_reranker

    runs = run.first_stage(
        encoder, depth=fusion_params.depth, lexical_params=lexical_params, n_queries=FIRST_STAGE_QUERIES
    )
    n_rerank, echo, paths = run.n_queries, run.echo, run.paths
    queries = runs.queries[:n_rerank]
    lexical, dense = cut(runs.lexical[:n_rerank], fusion_params.depth), cut(runs.dense[:n_rerank], fusion_params.depth)
    first = [fusion.top(fusion_params.fuse(lex, den), max(DEPTHS)) for lex, den in zip(lexical, dense)]
    reference = pool_scores(queries, first)
    echo(f"hybrid (no re-ranking), {len(queries)} queries: pool MRR {reference['mrr_pool']:.4f}")
    tried: list[dict] = []
    for model, int8 in ((m, q) for m in models for q in (False, True)):
        reranker = Reranker(load_reranker(model, models=paths.models, int8=int8), paths.cache)
        tried += _grid_for(reranker, runs, first, queries, run.progress, echo, latency_budget_ms)
    eligible = [t for t in tried if t["fits"]]
    if not eligible:
        raise HybridError(f"no re-ranker setting fits {latency_budget_ms:g} ms cold; raise --latency-budget")
    best_row = max(eligible, key=lambda t: t["mrr_pool"])  # the first of equals, as the grid runs
    best = RerankParams(**best_row["params"])
    best_result = {k: v for k, v in best_row.items() if k not in ("params", "fits")}
    echo(f"best: {best.to_dict()} pool MRR {best_result['mrr_pool']:.4f} (hybrid alone {reference['mrr_pool']:.4f})")
    return run.record(
        "rerank",
        best,
        made_for={"corpus": corpus_fingerprint(run.folder), "encoder": encoder_identity(encoder)},
        valid_scores={**best_result, "queries": len(queries)},
        summary={
            "valid": best_result,
            "hybrid_reference": reference,
            "selected_by": f"mrr_pool on the first {len(queries)} valid docstring queries, among settings whose "
            f"cold-cache cost is at most {latency_budget_ms:g} ms per query",
            "tried": tried,
        },
    )


def _grid_for(reranker: Reranker, runs: ValidRuns, first: list, queries: list[Pair], progress, echo, budget) -> list:
    """Every (K, weight) of one re-ranker: pool scores, cold-cost estimate, and whether it fits the budget."""
    label = f"{reranker.encoder.name}{' int8' if reranker.encoder.int8 else ''}"
    per_function_ms, per_query_ms = _cold_costs(reranker, runs, first, queries)
    echo(f"{label}: cold cost {per_function_ms:.1f} ms per candidate + {per_query_ms:.1f} ms per query")
    similarities = [
        reranker.similarities(query.query, [_hit(runs.functions[d], d, s) for d, s in ranked])
        for query, ranked in zip(tqdm(queries, desc=f"embedding candidates ({label})", disable=not progress), first)
    ]
    rows = []
    for depth in DEPTHS:
        for weight in WEIGHTS:
            reranked = [
                rerank(ranked, sims, candidates=depth, weight=weight) for ranked, sims in zip(first, similarities)
            ]
            result = pool_scores(queries, reranked)
            result["cold_ms_estimate"] = round(depth * per_function_ms + per_query_ms, 1)
            params = RerankParams(
                model=reranker.encoder.name, int8=reranker.encoder.int8, candidates=depth, first_stage_weight=weight
            )
            fits = result["cold_ms_estimate"] <= budget
            rows.append({"params": params.to_dict(), **result, "fits": fits})
            echo(
                f"{label:<17} K {depth:>3}  w {weight:.2f}   pool MRR {result['mrr_pool']:.4f}   "
                f"cold ~{result['cold_ms_estimate']:.0f} ms{'' if fits else ' (over budget)'}"
            )
    return rows


def _hit(function: Function, doc_id: str, score: float) -> Hit:
    source = {"func_name": function.func_name, "repo": function.repo, "path": function.path, "code": function.code}
    return Hit(doc_id, function.url, score, source)


def _cold_costs(reranker: Reranker, runs: ValidRuns, first: list, queries: list[Pair], sample: int = 8) -> tuple:
    """Milliseconds to embed one candidate and one query with the re-ranker, cache bypassed.

    Candidates are embedded one query's list at a time, as at search time (a batch is padded to its longest
    function, so embedding a large mixed sample at once under-estimates the cost)."""
    lists = [[runs.functions[d] for d, _ in ranked[:30]] for ranked in first[:sample]]
    started = time.perf_counter()
    for functions in lists:
        reranker.encoder.encode_functions(functions)
    per_function = (time.perf_counter() - started) * 1000 / sum(map(len, lists))
    texts = [q.query for q in queries[:32]]
    started = time.perf_counter()
    for text in texts:
        reranker.encoder.encode_queries([text])
    return per_function, (time.perf_counter() - started) * 1000 / len(texts)
