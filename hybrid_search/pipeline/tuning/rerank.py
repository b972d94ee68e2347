"""`hybrid tune rerank`: re-ranker model, candidate depth K and first-stage weight, by pool MRR on valid queries.

MiniLM embeds ~50 functions/s on a CPU, so only a subset of the valid queries (and of the real queries, when
there are some) is re-ranked (their candidates are cached, so a second run is quick); the hybrid-only MRR on
the same subset is the reference. Only settings whose cold-cache cost fits the latency budget per query are
eligible: K candidates at the measured embedding rate plus the query's own encoding.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from tqdm import tqdm

from hybrid_search import HybridError
from hybrid_search.data.types import Function
from hybrid_search.encoder import READ_TOKENS
from hybrid_search.encoder.resolve import is_cross_encoder
from hybrid_search.pipeline.tuning.common import (
    TuneRun,
    best_candidate,
    corpus_fingerprint,
    cut,
    encoder_identity,
    holds_base,
    pool_scores,
    real_line,
    real_protocol,
    real_scores,
    selection_note,
)
from hybrid_search.retrieval import fusion
from hybrid_search.retrieval.base import Hit
from hybrid_search.retrieval.params import FusionParams, LexicalParams, RerankParams
from hybrid_search.retrieval.rerank import Reranker, rerank, reranker_for

DEPTHS, WEIGHTS = (10, 20, 25, 30, 50), (0.0, 0.25, 0.5, 0.75)
FIRST_STAGE_QUERIES = 1000  # the valid sample the first stage is built for (the same as `tune hybrid`)


@dataclass
class QuerySet:
    """Queries the re-ranking grid is scored on: their texts, hybrid candidate lists, and how runs are scored."""

    texts: list[str]
    functions: dict[str, Function]  # doc id -> function, for every candidate
    first: list[list[tuple[str, float]]]  # per query: the hybrid ranking, best first
    score: Callable[[list], dict]  # re-ranked lists -> scores
    hides_summaries: bool = False  # the docstring protocol: candidates shown without their summary (valid.py)

    def candidate(self, doc_id: str, score: float) -> Hit:
        function = self.functions[doc_id]
        return _hit(function.without_summary() if self.hides_summaries else function, doc_id, score)


def tune_rerank(
    run: TuneRun,
    encoder,
    models: list[str],
    *,
    lexical_params: LexicalParams,
    fusion_params: FusionParams,
    latency_budget_ms: float = 250.0,
    precisions: tuple[bool, ...] = (False, True),
    docstrings: tuple[bool, ...] = (False, True),
    max_tokens: tuple[int, ...] = (READ_TOKENS,),
) -> dict:
    """`run.n_queries` is how many of the first stage's valid queries (and of the real queries) are re-ranked.

    Each model is tried in each of `precisions` (int8 or not), `docstrings` (whether it reads candidates'
    docstrings) and `max_tokens` (how much of each candidate it reads); a cross-encoder reads code only, at
    its own length.
    """
    query_sets = _query_sets(run, encoder, lexical_params, fusion_params)
    echo, paths = run.echo, run.paths
    reference = {k: v for s in query_sets for k, v in s.score(s.first).items()}
    echo(
        f"hybrid (no re-ranking), {len(query_sets[0].texts)} queries: pool MRR {reference['mrr_pool']:.4f}"
        + real_line(reference)
    )
    tried: list[dict] = []
    for model in models:
        # A cross-encoder reads code only, at its own length: one reading per precision.
        readings = (
            [(False, READ_TOKENS)]
            if is_cross_encoder(model, models=paths.models)
            else [(reads, tokens) for reads in docstrings for tokens in max_tokens]
        )
        for int8, (reads, tokens) in itertools.product(precisions, readings):
            # Embedded alone, as `hybrid eval` does, so the valid scores are what eval's rankings get.
            reranker = reranker_for(model, paths=paths, int8=int8, alone=True, reads_docstring=reads, max_tokens=tokens)
            tried += _grid_for(reranker, query_sets, run.progress, echo, latency_budget_ms)
    eligible = [t for t in tried if t["fits"]]
    if not eligible:
        raise HybridError(f"no re-ranker setting fits {latency_budget_ms:g} ms cold; raise --latency-budget")
    # With real queries, the reference for both signals is hybrid alone on the same queries: re-ranking is
    # worth its cost only for what it adds over its own first stage.
    base = reference if run.real is not None else None
    best_row = best_candidate(eligible, base)
    best = RerankParams(**best_row["params"])
    best_result = {k: v for k, v in best_row.items() if k not in ("params", "fits")}
    echo(
        f"best: {best.to_dict()} pool MRR {best_result['mrr_pool']:.4f}{real_line(best_result)} "
        f"(hybrid alone {reference['mrr_pool']:.4f}{real_line(reference)})"
    )
    if base is not None and not holds_base(best_result, base):
        echo("warning: no re-ranker setting holds hybrid alone on both signals; chosen among those in budget")
    counts = {"queries": len(query_sets[0].texts)} | ({"queries_real": len(query_sets[1].texts)} if base else {})
    rule = f"mrr_pool on the first {counts['queries']} valid docstring queries"
    return run.record(
        "rerank",
        best,
        made_for={"corpus": corpus_fingerprint(run.folder), "encoder": encoder_identity(encoder)},
        valid_scores={**best_result, **counts},
        summary={
            "valid": best_result,
            "hybrid_reference": reference,
            "selected_by": f"{selection_note(rule, 'hybrid alone', base)}, among settings whose cold-cache cost is "
            f"at most {latency_budget_ms:g} ms per query",
            **real_protocol(run),
            "tried": tried,
        },
    )


def _query_sets(run: TuneRun, encoder, lexical_params: LexicalParams, fusion_params: FusionParams) -> list[QuerySet]:
    """The first `run.n_queries` valid queries and, when there are real queries, as many of those."""
    runs = run.first_stage(
        encoder, depth=fusion_params.depth, lexical_params=lexical_params, n_queries=FIRST_STAGE_QUERIES
    )
    n_rerank = run.n_queries
    queries = runs.queries[:n_rerank]
    first = _hybrid_lists(fusion_params, runs.lexical[:n_rerank], runs.dense[:n_rerank])
    sets = [QuerySet([q.query for q in queries], runs.functions, first, partial(pool_scores, queries), True)]
    real_runs = run.real_stage(encoder, depth=fusion_params.depth, pool=runs.pool, lexical_params=lexical_params)
    if real_runs is not None:
        real = real_runs.real.first(n_rerank)
        first = _hybrid_lists(fusion_params, real_runs.lexical[:n_rerank], real_runs.dense[:n_rerank])
        sets.append(QuerySet(real.queries, real_runs.functions, first, partial(real_scores, real)))
    return sets


def _hybrid_lists(fusion_params: FusionParams, lexical: list, dense: list) -> list[list[tuple[str, float]]]:
    """Each query's hybrid ranking, as mode hybrid makes it, cut to the deepest K tried."""
    lexical, dense = cut(lexical, fusion_params.depth), cut(dense, fusion_params.depth)
    return [fusion.top(fusion_params.fuse(lex, den), max(DEPTHS)) for lex, den in zip(lexical, dense)]


def _grid_for(reranker: Reranker, query_sets: list[QuerySet], progress, echo, budget) -> list:
    """Every (K, weight) of one re-ranker: scores on each query set, cold-cost estimate, whether it fits the budget."""
    reads = getattr(reranker.encoder, "reads_docstring", False)
    tokens = getattr(reranker.encoder, "max_tokens", READ_TOKENS)
    label = (
        f"{reranker.encoder.name}{' int8' if reranker.encoder.int8 else ''}{' +doc' if reads else ''}"
        f"{f' {tokens}t' if tokens != READ_TOKENS else ''}"
    )
    per_function_ms, per_query_ms = _cold_costs(reranker, query_sets[0])
    echo(f"{label}: cold cost {per_function_ms:.1f} ms per candidate + {per_query_ms:.1f} ms per query")
    similarities = [
        [
            reranker.similarities(text, [s.candidate(d, score) for d, score in ranked])
            for text, ranked in zip(
                tqdm(s.texts, desc=f"embedding candidates ({label})", disable=not progress), s.first
            )
        ]
        for s in query_sets
    ]
    rows = []
    for depth in DEPTHS:
        for weight in WEIGHTS:
            result = {}
            for s, sims in zip(query_sets, similarities):
                reranked = [rerank(r, sim, candidates=depth, weight=weight) for r, sim in zip(s.first, sims)]
                result.update(s.score(reranked))
            result["cold_ms_estimate"] = round(depth * per_function_ms + per_query_ms, 1)
            params = RerankParams(
                model=reranker.encoder.name,
                int8=reranker.encoder.int8,
                candidates=depth,
                first_stage_weight=weight,
                reads_docstring=reads,
                max_tokens=tokens,
            )
            fits = result["cold_ms_estimate"] <= budget
            rows.append({"params": params.to_dict(), **result, "fits": fits})
            echo(
                f"{label:<28} K {depth:>3}  w {weight:.2f}   pool MRR {result['mrr_pool']:.4f}{real_line(result)}   "
                f"cold ~{result['cold_ms_estimate']:.0f} ms{'' if fits else ' (over budget)'}"
            )
    return rows


def _hit(function: Function, doc_id: str, score: float) -> Hit:
    source = {
        "func_name": function.func_name,
        "repo": function.repo,
        "path": function.path,
        "code": function.code,
        "docstring": function.docstring,
    }
    return Hit(doc_id, function.url, score, source)


def _cold_costs(reranker, query_set: QuerySet, sample: int = 8) -> tuple:
    """Milliseconds per candidate and per query on the first `sample` queries' top 30, cache bypassed."""
    lists = [[query_set.functions[d] for d, _ in ranked[:30]] for ranked in query_set.first[:sample]]
    return reranker.cold_costs(query_set.texts[:sample], lists)
